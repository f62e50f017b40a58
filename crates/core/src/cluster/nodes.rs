//! How many nodes a command line asks for, and the nodes named one by one
//! (`--node`, for clusters whose machines differ).

use super::{nodes_for, ClusterError};
use crate::cmdline::ParsedCommand;
use crate::hardware::{resolve_set, Catalog, HardwareSet, Target};

/// The nodes asked for: `nodes` (`--nodes`), else one per node named
/// (`--node`), else one for exo (it only runs as a cluster), else what a
/// pasted command's TP × PP needs over `gpus` per node; `None`: one machine.
pub fn asked(
    nodes: Option<u32>,
    named: usize,
    engine: &str,
    pasted: Option<&ParsedCommand>,
    gpus: usize,
) -> Option<u32> {
    let p = pasted.map(|p| {
        (
            p.tensor_parallel.unwrap_or(1),
            p.pipeline_parallel.unwrap_or(1),
        )
    });
    nodes
        .or((named > 0).then_some(named as u32))
        .or((engine == "exo").then_some(1))
        .or(p.and_then(|(tp, pp)| nodes_for(tp, pp, gpus as u64)))
}

/// The nodes named one by one, each resolved alone, and the target of the
/// first (the request runs on it); empty and `None` when none is named.
pub fn named(
    catalog: &Catalog,
    names: &[String],
) -> Result<(Vec<HardwareSet>, Option<Target>), ClusterError> {
    let sets = names
        .iter()
        .map(|n| {
            resolve_set(catalog, &[n.as_str()])
                .map_err(|e| ClusterError::Input(format!("--node {n}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let first = names
        .first()
        .map(|n| Target::named(catalog, &[n.as_str()], None))
        .transpose()
        .map_err(|e| ClusterError::Input(e.to_string()))?;
    Ok((sets, first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_come_from_the_flags_in_order() {
        assert_eq!(asked(Some(3), 2, "exo", None, 8), Some(3));
        assert_eq!(asked(None, 2, "exo", None, 8), Some(2));
        assert_eq!(asked(None, 0, "exo", None, 8), Some(1));
        assert_eq!(asked(None, 0, "llama.cpp", None, 8), None);
        let cat = Catalog::embedded().unwrap();
        let names = ["m3-ultra-256".to_string(), "m3-ultra-96".to_string()];
        let (sets, first) = named(cat, &names).unwrap();
        assert_eq!(sets.len(), 2);
        assert!(first.unwrap().description.contains("M3 Ultra"));
        let e = named(cat, &["no-such-device-xyz".to_string()]).unwrap_err();
        assert!(
            e.to_string().starts_with("--node no-such-device-xyz: "),
            "{e}"
        );
    }
}
