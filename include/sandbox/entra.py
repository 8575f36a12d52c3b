"""Entra ID emulator: OpenID discovery and the OAuth2 client-credentials token endpoint."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from include.sandbox.config import SandboxConfig
from include.sandbox.control import Controls, SandboxMiddleware
from include.sandbox.emulator import Emulator
from include.sandbox.tokens import TokenAuthority


def _error(status: int, error: str, code: int, description: str) -> JSONResponse:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    return JSONResponse(
        status_code=status,
        content={
            "error": error,
            "error_description": f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {now}",
            "error_codes": [code],
            "timestamp": now,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        },
    )


@dataclass(frozen=True)
class Client:
    """An application registered in the tenant: its secret, and whose object id its tokens carry."""

    secret: str
    object_id: str
    user: bool = False


def clients(config: SandboxConfig) -> dict[str, Client]:
    """The integration application (its application user) and the ``sales_user`` application (a Sales user)."""
    return {
        config.client_id: Client(config.client_secret, config.integration_user_id),
        config.sales_user_client_id: Client(config.sales_user_client_secret, config.sales_user_object_id, user=True),
    }


def create_emulator(config: SandboxConfig, authority: TokenAuthority) -> Emulator:
    """The token service for the demo applications.

    Known resources: Business Central (``https://api.businesscentral.dynamics.com``) and the
    sandbox's Dataverse URL. Tokens of the integration application carry the integration user's
    object id; those of the ``sales_user`` application the object id of the Sales user it acts as,
    shaped as a signed-in user's token (``scp`` instead of ``roles``).
    """
    registered = clients(config)
    app = FastAPI(title="Entra ID (sandbox)", docs_url=None, redoc_url=None, openapi_url=None)
    resources = {config.bc_resource.rstrip("/"), config.dataverse_url.rstrip("/")}

    def tenant_known(tenant: str) -> bool:
        return tenant in (config.tenant_id, "organizations", "common")

    @app.get("/{tenant}/v2.0/.well-known/openid-configuration")
    def discovery(tenant: str):
        if not tenant_known(tenant):
            return _error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        base = f"{config.entra_url}/{config.tenant_id}"
        return {
            "issuer": f"{config.entra_url}/{config.tenant_id}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "grant_types_supported": ["client_credentials"],
            "tenant_region_scope": "EU",
        }

    @app.get("/{tenant}/discovery/v2.0/keys")
    def keys(tenant: str):
        import jwt

        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(authority.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": "sandbox", "use": "sig", "alg": "RS256"}]}

    @app.post("/{tenant}/oauth2/v2.0/token")
    async def token(tenant: str, request: Request):
        if not tenant_known(tenant):
            return _error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found. Check the tenant id.")
        form = await request.form()
        grant = form.get("grant_type")
        if grant != "client_credentials":
            return _error(400, "unsupported_grant_type", 70003, f"The grant type '{grant}' is not supported here.")
        client_id, secret = form.get("client_id"), form.get("client_secret")
        client = registered.get(str(client_id))
        if client is None:
            return _error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
            )
        if secret != client.secret:
            return _error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        scope = str(form.get("scope") or "").strip()
        if not scope.endswith("/.default") or " " in scope:
            return _error(
                400,
                "invalid_scope",
                1002012,
                "Client credential flows must have a scope value with /.default suffixed.",
            )
        resource = scope[: -len("/.default")].rstrip("/")
        if resource not in resources:
            return _error(
                400, "invalid_resource", 500011, f"The resource principal named {resource} was not found in the tenant."
            )
        access_token, expires_in = authority.issue(resource, str(client_id), client.object_id, user=client.user)
        return {
            "token_type": "Bearer",
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": access_token,
        }

    controls = Controls(
        name="entra",
        entity_of=lambda path: "token" if path.endswith("/token") else "discovery",
        fault_response=lambda status, retry: (
            {
                "error": "temporarily_unavailable",
                "error_description": f"AADSTS50196: Injected fault (HTTP {status}).",
                "error_codes": [50196],
            },
            {},
        ),
        authority=authority,
    )
    return Emulator("entra", SandboxMiddleware(app, controls), controls)
