//! A pasted command line ([`crate::cmdline`]) as a request: its engine with
//! that engine's flags, its run settings, and what canirun did not read.

use super::{Engine, LlamaCppRun, Request, ServerRun};
use crate::cmdline::{self, ParsedCommand};
use crate::memory::RunSettings;

impl ServerRun {
    /// vLLM/SGLang's launch settings as a command line gives them (vLLM's
    /// defaults where it is silent).
    pub fn from_command(p: &ParsedCommand) -> ServerRun {
        ServerRun {
            tensor_parallel: p.tensor_parallel,
            pipeline_parallel: p.pipeline_parallel.unwrap_or(1),
            gpu_memory_utilization: p.gpu_memory_utilization.unwrap_or(0.9),
            max_num_seqs: p.settings.n_parallel.max(1),
            ..ServerRun::default()
        }
    }
}

impl Request<'_> {
    /// Run what the pasted command `p` says: its engine (a vLLM or SGLang
    /// command gets that engine's memory model and split checks) and its
    /// settings; the backend stays the request's. Returns the notes the user
    /// must see: flags that were not taken into account, and Ollama running
    /// llama.cpp.
    pub fn use_pasted(&mut self, p: &ParsedCommand) -> Vec<String> {
        self.settings = RunSettings {
            backend: self.settings.backend,
            ..p.settings.clone()
        };
        self.engine = match p.engine {
            cmdline::Engine::Vllm => Engine::Vllm(ServerRun::from_command(p)),
            cmdline::Engine::Sglang => Engine::Sglang(ServerRun::from_command(p)),
            _ => Engine::LlamaCpp(LlamaCppRun {
                placement: Some(p.placement.clone()).filter(|x| *x != Default::default()),
                fit: p.fit.clone(),
                // Loaded by the front end (files, network) from `p.companions`.
                companions: match &self.engine {
                    Engine::LlamaCpp(run) => run.companions.clone(),
                    _ => Default::default(),
                },
            }),
        };
        if let Some(k) = p.speculative_tokens {
            self.workload.speculative = Some(super::Speculative {
                draft_tokens: k,
                acceptance: self
                    .workload
                    .speculative
                    .map_or(super::MTP_ACCEPTANCE, |s| s.acceptance),
            });
        }
        if !p.ctx_given && p.engine != cmdline::Engine::LlamaCpp {
            // vLLM and SGLang default to the model's whole trained context.
            self.settings.n_ctx = self.model.spec.n_ctx_train;
        }
        let mut notes: Vec<String> = p
            .unknown
            .iter()
            .map(|u| {
                format!(
                    "canirun does not know '{u}' of {}: it was not taken into account",
                    p.program
                )
            })
            .collect();
        if p.engine == cmdline::Engine::Ollama {
            notes.push(format!(
                "{} runs llama.cpp: memory follows llama.cpp's rules and --fit",
                p.program
            ));
        }
        notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::{Catalog, Target};
    use crate::model::MlaTensorLayout;
    use crate::pipeline::Model;

    fn pasted(line: &str) -> (Engine, RunSettings, Vec<String>) {
        let m =
            Model::from_catalog("deepseek-r1:671b", None, false, MlaTensorLayout::Split).unwrap();
        let t = Target::named(Catalog::embedded().unwrap(), &["8xh100"], None).unwrap();
        let mut req = Request::new(&m, &t, RunSettings::default());
        let p = cmdline::parse(&cmdline::split_words(line)).unwrap();
        let notes = req.use_pasted(&p);
        (req.engine, req.settings, notes)
    }

    #[test]
    fn a_pasted_server_command_runs_that_engine() {
        let (e, s, notes) = pasted("vllm serve deepseek-ai/DeepSeek-R1 -tp 4 -pp 2 --frob");
        let Engine::Vllm(run) = e else {
            panic!("{e:?}")
        };
        assert_eq!((run.tensor_parallel, run.pipeline_parallel), (Some(4), 2));
        // vLLM sizes the model's trained context when --max-model-len is absent.
        assert_eq!(s.n_ctx, 163840);
        assert_eq!(notes.len(), 1, "{notes:?}");
        let (e, s, _) = pasted("llama-server -m x.gguf -c 8192 -ngl 20");
        let Engine::LlamaCpp(run) = e else {
            panic!("{e:?}")
        };
        assert_eq!(run.placement.and_then(|p| p.n_gpu_layers), Some(20));
        assert_eq!(s.n_ctx, 8192);
        let (e, _, notes) = pasted("ollama run deepseek-r1:7b");
        assert_eq!(e, Engine::LlamaCpp(LlamaCppRun::default()));
        assert!(notes[0].contains("runs llama.cpp"), "{notes:?}");
    }

    #[test]
    fn pasted_speculative_flags_ask_for_mtp_with_their_draft_tokens() {
        let m = Model::from_catalog(
            "deepseek-r1:671b",
            Some("fp8"),
            false,
            MlaTensorLayout::Split,
        )
        .unwrap();
        let t = Target::named(Catalog::embedded().unwrap(), &["8xh200"], None).unwrap();
        for (line, k) in [
            ("python3 -m sglang.launch_server --model-path deepseek-ai/DeepSeek-R1 --tp 8 --speculative-algorithm EAGLE", 1),
            ("python3 -m sglang.launch_server --model-path deepseek-ai/DeepSeek-R1 --tp 8 --speculative-num-steps 3 --speculative-algorithm NEXTN", 3),
            (r#"vllm serve deepseek-ai/DeepSeek-R1 -tp 8 --speculative-config '{"method":"deepseek_mtp","num_speculative_tokens":2}'"#, 2),
        ] {
            let mut req = Request::new(&m, &t, RunSettings::default());
            let p = cmdline::parse(&cmdline::split_words(line)).unwrap();
            let notes = req.use_pasted(&p);
            assert!(notes.is_empty(), "{line}: {notes:?}");
            let spec = req.workload.speculative.expect(line);
            assert_eq!(spec.draft_tokens, k, "{line}");
            assert_eq!(spec.acceptance, crate::pipeline::MTP_ACCEPTANCE);
            let r = crate::pipeline::estimate(&req).unwrap();
            let sp = r.speed.report().and_then(|s| s.speculative.clone()).expect(line);
            assert_eq!(sp.drafter, "MTP");
            assert!(sp.speedup > 1.0, "{line}: {}", sp.speedup);
        }
    }
}
