#!/usr/bin/env python3
"""Extract the memory llama-fit-params projected for every configuration it
tried, from its verbose log (`llama-fit-params ... -v`, llama.cpp 0c1e57098).

Each projection in common/fit.cpp is a no-alloc load that prints the context
size and a memory-breakdown table. The projections are, in order:
  initial  - the parameters as given (all layers offloaded);
  min_ctx  - the same at the minimum context (only when -c was not given);
  cpu_moe  - every routed expert in system memory (MoE models);
  probe    - a trial layer assignment, printed after its table as
             `id=I, n_layer=.., n_part=.., overflow_type=.., mem=.. MiB`.
One CSV row per (projection, device), no header:
  fixture,n_ctx,imposed_free_MiB,n_ctx_projected,kind,n_devices,device,config,model_MiB,context_MiB,compute_MiB,total_MiB
config is n_layer/n_part/overflow_type per device joined by ";" for a probe,
empty otherwise. MiB are whole, as llama.cpp prints them (floored).

Usage: fit_params_probes.py FIXTURE CTX FREE LOG...
"""
import re
import sys

ROW = re.compile(r"\|\s+- (\S+) .*\(\s*(\d+) =\s+(\d+) \+\s+(\d+) \+\s+(\d+)\)")
PROBE = re.compile(
    r"id=(\d+), n_layer=\s*(\d+), n_part=\s*(\d+), overflow_type=(\d+), mem=\s*(\d+) MiB"
)
NCTX = re.compile(r"llama_context: n_ctx\s+= (\d+)")


def main() -> None:
    fixture, ctx, free = sys.argv[1], sys.argv[2], sys.argv[3]
    seen = set()

    def emit(kind, n_ctx, table, cfg):
        for dev, (name, total, model, context, compute) in enumerate(table):
            key = (kind, n_ctx, len(table), dev, cfg)
            if key in seen:
                continue
            seen.add(key)
            print(f"{fixture},{ctx},{free},{n_ctx},{kind},{len(table)},{dev},{cfg},{model},{context},{compute},{total}")

    for path in sys.argv[4:]:
        kind, n_ctx, table, probe = "initial", None, None, None
        for line in open(path, encoding="utf-8", errors="replace"):
            if "getting device memory data for initial parameters" in line:
                kind = "initial"
            elif "cannot meet free memory target" in line:
                kind = "min_ctx"
            elif "all MoE tensors moved to system memory" in line:
                kind = "cpu_moe"
            m = NCTX.search(line)
            if m:
                n_ctx = m.group(1)
            if "memory breakdown [MiB]" in line:
                table = []
                continue
            m = ROW.search(line)
            if m and table is not None and probe is None:
                if m.group(1) != "Host" and not m.group(1).startswith("CPU"):
                    table.append(m.groups())
                continue
            if table is not None and probe is None and ("common_params_fit_impl" in line or "llama_model_loader" in line):
                if "memory for test allocation by device" in line:
                    probe = []
                    continue
                # A projection that is not a probe ends at the next message.
                emit(kind, n_ctx, table, "")
                table = None
                continue
            p = PROBE.search(line)
            if p and probe is not None:
                probe.append((p.group(2), p.group(3), p.group(4)))
                assert int(table[int(p.group(1))][1]) == int(p.group(5)), line
                if len(probe) == len(table):
                    emit("probe", n_ctx, table, ";".join("/".join(x) for x in probe))
                    table, probe, kind = None, None, "probe"


if __name__ == "__main__":
    main()
