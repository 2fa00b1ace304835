"""How long `import dbt_braze` takes in a fresh interpreter (target: under 50 ms).

dbt-core imports every installed `dbt_*` module on every dbt command, so this is paid by every
dbt invocation on a machine where dbt-braze is installed. Usage: python benchmarks/import_time.py
"""

import statistics
import subprocess
import sys

CODE = "import time; t = time.perf_counter(); import dbt_braze; print(time.perf_counter() - t)"

runs = [float(subprocess.check_output([sys.executable, "-c", CODE])) for _ in range(10)]
print(
    f"import dbt_braze: median {statistics.median(runs) * 1000:.2f} ms, max {max(runs) * 1000:.2f} ms"
)
