"""dbt-braze: sync dbt models to Braze, sending only what changed.

dbt imports every installed top-level module named ``dbt_*`` while it looks for plugins, on
every dbt command: this file stays import-free and side-effect free.
"""

__version__ = "0.1.0"
