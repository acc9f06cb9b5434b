"""ensemble: combine induction and transduction candidates into attempts, and run benchmarks.

- `policies`   the policy registry (`prefer-programs`, `barc`, `transduction-only`, `induction-only`).
- `config`     `RunConfig` (lm, sandbox, induction, transduction, ensemble, seed) and run presets.
- `store`      the SQLite run store in RUN_DIR (WAL); `sample_log` induction's sample log on it.
- `stages`     solver resources and adapters from solver results to store rows.
- `runner`     the resumable run; `summary` the summary table; `report` the HTML report;
  `views` the terminal views; `commands` the `run`/`task`/`programs`/`report` subcommands.
Nothing imports this package (it is the top of the dependency order).
"""
