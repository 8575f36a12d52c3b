"""Signed access tokens: issued by the Entra ID emulator, checked by the BC and Dataverse ones."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


class TokenError(Exception):
    """A bearer token was missing, malformed, expired, revoked or meant for another audience."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def load_signing_key(state_dir: Path) -> rsa.RSAPrivateKey:
    """The RSA key that signs tokens, created once per state folder."""
    path = state_dir / "signing-key.pem"
    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    state_dir.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return key


@dataclass
class TokenAuthority:
    """Issues and validates the sandbox's JWTs (RS256, v1 claims as Dataverse and BC receive them)."""

    key: rsa.RSAPrivateKey
    tenant_id: str
    lifetime_seconds: int = 3599
    # Token ids issued so far, and those revoked by the "expire all tokens" fault.
    _issued: set[str] = field(default_factory=set, repr=False)
    _revoked: set[str] = field(default_factory=set, repr=False)

    @property
    def issuer(self) -> str:
        return f"https://sts.windows.net/{self.tenant_id}/"

    def issue(
        self, audience: str, app_id: str, object_id: str, lifetime: int | None = None, *, user: bool = False
    ) -> tuple[str, int]:
        """A signed token; ``user`` shapes it as a signed-in user's (``scp``) rather than an app's (``roles``)."""
        now = int(time.time())
        expires_in = self.lifetime_seconds if lifetime is None else lifetime
        claims = {
            "aud": audience,
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + expires_in,
            "tid": self.tenant_id,
            "appid": app_id,
            "azp": app_id,
            "oid": object_id,
            "sub": object_id,
            **(
                {"scp": "user_impersonation", "idtyp": "user"}
                if user
                else {"roles": ["user_impersonation"], "idtyp": "app"}
            ),
            "ver": "1.0",
            "uti": uuid.uuid4().hex,
        }
        self._issued.add(claims["uti"])
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "sandbox"}), expires_in

    def revoke_all(self) -> None:
        """Make every token issued so far fail with 401, as if it had expired."""
        self._revoked |= self._issued
        self._issued = set()

    def validate(self, authorization: str | None, audience: str) -> dict:
        """Return the claims of a ``Bearer`` header value, or raise :class:`TokenError`."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise TokenError("MissingToken", "No bearer token was sent in the Authorization header.")
        token = authorization[7:].strip()
        try:
            claims = jwt.decode(
                token,
                self.key.public_key(),
                algorithms=["RS256"],
                audience=audience,
                issuer=self.issuer,
                options={"require": ["exp", "aud", "tid"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("ExpiredAuthTicket", "The access token has expired.") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenError("InvalidAudience", f"The access token is not valid for audience {audience}.") from exc
        except jwt.PyJWTError as exc:
            raise TokenError("BadAuthTicket", f"The access token is invalid: {exc}.") from exc
        if claims.get("uti") in self._revoked:
            raise TokenError("ExpiredAuthTicket", "The access token has expired.")
        return claims
