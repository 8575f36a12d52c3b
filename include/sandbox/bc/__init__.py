"""Placeholder: replaced by the real emulator."""

from fastapi import FastAPI

from include.sandbox.control import Controls, SandboxMiddleware
from include.sandbox.emulator import Emulator

GENERATORS: frozenset[str] = frozenset()


def create_emulator(config, authority, *, seed="demo", generate=None) -> Emulator:
    controls = Controls(name="bc", authority=authority)
    return Emulator("bc", SandboxMiddleware(FastAPI(), controls), controls)
