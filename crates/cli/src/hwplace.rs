//! Hardware names → a speed placement, shared by `canirun speed`,
//! `canirun compare` and `canirun validate power`.

use anyhow::{bail, Context, Result};
use canirun_core::hardware::{resolve_set, Catalog, Device, DeviceKind, HardwareSet};
use canirun_core::speed::{default_backend, Calibration, DeviceSpec, ModelCost, Placement};
use canirun_core::units::BytesPerSecond;

/// Resolve `names` and build the placement they describe: one device, n
/// identical GPUs in a layer split, a CPU platform, or (with `cpu_moe`) one
/// GPU plus one CPU platform holding the routed experts. Returns the
/// placement, a display name of the hardware and the resolved set.
pub fn speed_placement<S: AsRef<str>>(
    names: &[S],
    cpu_moe: bool,
    cost: &ModelCost,
    cal: &Calibration,
) -> Result<(Placement, String, HardwareSet)> {
    let cat = Catalog::embedded().context("loading the embedded hardware catalog")?;
    let set = resolve_set(cat, names)?;
    let spec = |d: &Device| -> Result<DeviceSpec> {
        Ok(DeviceSpec::from_device(d, default_backend(d), cal)?)
    };
    let gpus: Vec<_> = set
        .devices
        .iter()
        .filter(|(d, _)| d.kind != DeviceKind::CpuPlatform)
        .collect();
    let cpus: Vec<_> = set
        .devices
        .iter()
        .filter(|(d, _)| d.kind == DeviceKind::CpuPlatform)
        .collect();
    let names: Vec<String> = set
        .devices
        .iter()
        .map(|(d, n)| {
            if *n > 1 {
                format!("{n}× {}", d.name)
            } else {
                d.name.clone()
            }
        })
        .collect();
    let hw = names.join(" + ");
    let p = match (gpus.as_slice(), cpus.as_slice(), cpu_moe) {
        ([(g, n)], [], false) if *n > 1 => {
            Placement::layer_split(cost, spec(g)?, *n, g.interconnect.nvlink.or(g.interconnect.pcie_bandwidth()))
        }
        ([(g, _)], [], false) => Placement::single_device(cost, spec(g)?),
        ([], [(c, n)], _) => Placement::single_device(cost, spec(c)?.times(*n)),
        ([(g, 1)], [(c, n)], true) => {
            let link = g
                .interconnect
                .pcie_bandwidth()
                .unwrap_or(BytesPerSecond::gbps(31.5));
            Placement::experts_on_cpu(cost, spec(g)?, spec(c)?.times(*n), link)
        }
        (_, _, true) => bail!("--cpu-moe needs one GPU and one CPU platform, e.g. --gpu '4090 + epyc-9654'"),
        _ => bail!(
            "'{hw}': mixed device sets need a placement (-ngl, --tensor-split); name one device type, or one GPU + one CPU platform with --cpu-moe"
        ),
    };
    Ok((p, hw, set))
}
