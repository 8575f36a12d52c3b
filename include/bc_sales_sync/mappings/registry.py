"""The effective mappings: the default catalogue plus the user's overrides.

Overrides live in the Airflow Variable ``bc_sales_sync_mappings`` as JSON keyed by mapping name,
for example::

    {"ITEM-PRODUCT": {"source_filter": "Type eq 'Inventory'", "sync_only_coupled": true,
                      "fields": {"vendorpartnumber": null}}}

Deleting the Variable resets every mapping to its default (BC's "use default synchronization
setup"): ``python -m include.bc_sales_sync.mappings reset``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from include.bc_sales_sync.mappings.catalogue import DEFAULT_MAPPINGS
from include.bc_sales_sync.mappings.model import Mapping, MappingError

OVERRIDES_VARIABLE = "bc_sales_sync_mappings"


def default_mappings() -> dict[str, Mapping]:
    return {m.name: m for m in DEFAULT_MAPPINGS}


def apply_overrides(defaults: dict[str, Mapping], overrides: Any) -> dict[str, Mapping]:
    if overrides is None:
        return dict(defaults)
    if not isinstance(overrides, dict):
        raise MappingError(f"The Variable {OVERRIDES_VARIABLE} must hold a JSON object keyed by mapping name.")
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise MappingError(
            f"The Variable {OVERRIDES_VARIABLE} names unknown mapping(s) {unknown}; known: {sorted(defaults)}."
        )
    return {name: m.with_overrides(overrides[name]) if name in overrides else m for name, m in defaults.items()}


def read_overrides() -> Any:
    """The overrides from the Airflow Variable (or ``AIRFLOW_VAR_BC_SALES_SYNC_MAPPINGS``)."""
    raw = os.environ.get("AIRFLOW_VAR_" + OVERRIDES_VARIABLE.upper())
    if raw is None:
        try:
            from airflow.sdk import Variable

            raw = Variable.get(OVERRIDES_VARIABLE, default=None)
        except Exception:  # no Airflow context (scripts, tests): defaults only
            raw = None
    if raw in (None, ""):
        return None
    if isinstance(raw, (dict, list)):
        return raw
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise MappingError(f"The Variable {OVERRIDES_VARIABLE} is not valid JSON: {exc}.") from exc


def load_mappings() -> dict[str, Mapping]:
    return apply_overrides(default_mappings(), read_overrides())
