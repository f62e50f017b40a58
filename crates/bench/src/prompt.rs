//! Prompts a prefix cache cannot help with: random common words, a different
//! sequence for every test and repetition, so no request shares more than
//! the beginning-of-sequence token with an earlier one.

/// Common English words that most tokenizers (Llama, Qwen, Gemma, GPT) keep
/// as one token each with their leading space, so a prompt of N words is
/// close to N tokens. The server's own count is what the measurement uses.
const WORDS: &[&str] = &[
    "the", "house", "river", "green", "table", "music", "light", "water", "stone", "paper",
    "window", "garden", "winter", "summer", "market", "street", "friend", "school", "number",
    "animal", "money", "people", "family", "letter", "bridge", "forest", "island", "silver",
    "golden", "doctor", "teacher", "morning", "evening", "history", "kitchen", "machine",
    "picture", "station", "village", "weather", "answer", "bottle", "camera", "castle", "circle",
    "cotton", "dinner", "engine", "farmer", "finger", "flower", "hammer", "heart", "horse",
    "hotel", "laptop", "mirror", "mother", "father", "orange", "pencil", "planet", "pocket",
    "rabbit", "rocket", "sister", "spring", "ticket", "tiger", "travel", "valley", "wallet",
    "yellow", "blue", "red", "black", "white", "small", "large", "quick", "slow", "happy", "quiet",
    "early", "late", "open", "close", "north", "south", "east", "west", "city", "road", "car",
    "train", "ship", "plane", "book", "song", "game", "film", "cloud", "rain", "snow", "wind",
    "fire", "earth", "moon", "sun", "star", "tree", "leaf", "bird", "fish", "dog", "cat", "bread",
    "milk", "tea", "coffee", "sugar", "salt", "apple", "lemon", "glass", "chair", "door", "floor",
    "wall", "roof", "room", "bed", "shirt", "shoe", "hat", "coat", "ring", "king", "queen",
    "child", "man", "woman", "hand", "head", "eye", "face", "voice", "word", "story", "idea",
    "plan", "field", "farm", "shop", "bank", "park", "lake", "sea", "hill", "mountain", "desert",
    "ocean", "copper", "iron", "wood", "metal", "sand", "dust", "smoke", "storm", "thunder",
    "shadow", "corner", "center",
];

/// A prompt of `n` words drawn with the seed `seed` (splitmix64: fast,
/// reproducible, and a different seed changes the first word already with
/// probability ≈ 1 − 1/|WORDS|).
pub fn words(n: usize, seed: u64) -> String {
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut out = String::with_capacity(n * 7);
    for i in 0..n {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        if i > 0 {
            out.push(' ');
        }
        out.push_str(WORDS[(z % WORDS.len() as u64) as usize]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_differ_from_the_first_word_and_have_n_words() {
        let a = words(64, 1);
        let b = words(64, 2);
        assert_eq!(a.split(' ').count(), 64);
        assert_eq!(a, words(64, 1), "reproducible");
        // A prefix cache reuses the longest common prefix: it must be short.
        let common = a
            .split(' ')
            .zip(b.split(' '))
            .take_while(|(x, y)| x == y)
            .count();
        assert!(common < 3, "{common} words shared");
    }
}
