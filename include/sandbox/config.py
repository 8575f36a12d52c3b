"""Sandbox settings: ports, identities and the demo tenant, shared by the three emulators."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_STATE_DIR = Path(".sandbox")


@dataclass(frozen=True)
class SandboxConfig:
    """Everything a client needs to reach the sandbox, written to ``endpoints.json``."""

    state_dir: Path = DEFAULT_STATE_DIR
    host: str = "127.0.0.1"
    bc_port: int = 8441
    dataverse_port: int = 8442
    entra_port: int = 8443
    tenant_id: str = "6f2a1c4e-8b3d-4e5f-9a7b-1c2d3e4f5a6b"
    bc_environment: str = "sandbox"
    company_id: str = "5a3e7c1d-2b4f-4a6e-8c9d-0e1f2a3b4c5d"
    company_name: str = "CRONUS International Ltd."
    client_id: str = "0d9c8b7a-6e5f-4d3c-2b1a-0f9e8d7c6b5a"
    client_secret: str = "sandbox-demo-secret-7Qx2vL9pR4tZ"
    # The Dataverse application user that the demo application's tokens act as.
    integration_user_id: str = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
    # A second application, for a salesperson at work in Sales: its tokens act in Dataverse as the
    # demo Sales user Peter Saddow (salesperson PS: licensed, not an integration user), so rows it
    # changes carry his systemuser id in _modifiedby_value. It is not a Business Central user.
    sales_user_client_id: str = "4ffc91cd-c3d7-44bb-996f-5ae32fba571d"
    sales_user_client_secret: str = "sandbox-sales-secret-3Hn8wK5sT1yB"
    sales_user_id: str = "90595ef6-80aa-5dfc-880b-68242068f60f"
    sales_user_object_id: str = "1d70742f-de9b-5ec4-9d52-9a6b2fa55919"
    local_currency: str = "USD"
    # Dataverse service protection; 0 disables the per-window request limit.
    dataverse_request_limit: int = 0
    dataverse_window_seconds: int = 300
    token_lifetime_seconds: int = 3599

    @property
    def bc_url(self) -> str:
        return f"https://{self.host}:{self.bc_port}"

    @property
    def dataverse_url(self) -> str:
        return f"https://{self.host}:{self.dataverse_port}"

    @property
    def entra_url(self) -> str:
        return f"https://{self.host}:{self.entra_port}"

    @property
    def authority(self) -> str:
        return f"{self.entra_url}/{self.tenant_id}"

    @property
    def bc_resource(self) -> str:
        """Token audience of Business Central (the real service uses this value too)."""
        return "https://api.businesscentral.dynamics.com"

    @property
    def bc_api_root(self) -> str:
        return f"{self.bc_url}/v2.0/{self.tenant_id}/{self.bc_environment}"

    @property
    def ca_file(self) -> Path:
        return self.state_dir / "ca.pem"

    def endpoints(self) -> dict:
        return {
            "tenant_id": self.tenant_id,
            "authority": self.authority,
            "token_url": f"{self.authority}/oauth2/v2.0/token",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "ca_file": str(self.ca_file.resolve()),
            "business_central": {
                "url": self.bc_url,
                "api_root": self.bc_api_root,
                "api_v2": f"{self.bc_api_root}/api/v2.0",
                "odata_v4": f"{self.bc_api_root}/ODataV4",
                "environment": self.bc_environment,
                "company_id": self.company_id,
                "company_name": self.company_name,
                "scope": f"{self.bc_resource}/.default",
            },
            "dataverse": {
                "url": self.dataverse_url,
                "api": f"{self.dataverse_url}/api/data/v9.2",
                "scope": f"{self.dataverse_url}/.default",
                "integration_user_id": self.integration_user_id,
            },
            "sales_user": {
                "client_id": self.sales_user_client_id,
                "client_secret": self.sales_user_client_secret,
                "systemuser_id": self.sales_user_id,
                "object_id": self.sales_user_object_id,
            },
            "entra": {"url": self.entra_url},
        }

    def write_endpoints(self) -> Path:
        path = self.state_dir / "endpoints.json"
        path.write_text(json.dumps(self.endpoints(), indent=2) + "\n")
        return path

    def as_dict(self) -> dict:
        data = asdict(self)
        data["state_dir"] = str(self.state_dir)
        return data
