"""C2PA-signed samples, made with the official C2PA library and a throwaway test certificate.

The certificate chain (an ES256 test CA and an end-entity signing certificate with the
emailProtection key usage C2PA accepts) is generated in memory with `cryptography`; it is
untrusted, so readers report "signing credential untrusted" and a valid signature.
"""

from __future__ import annotations

import datetime as dt
import io
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image

from alice_mcp.samples.images import Size, sample_image, seed_of

IPTC_AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
IPTC_CAMERA = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}


@lru_cache(maxsize=1)
def test_signing_material() -> tuple[bytes, bytes]:
    """(PEM certificate chain, PEM private key) of a fresh, untrusted ES256 test signer."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "alice-mcp tests")])  # fmt: skip

    def usage(*, ca: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=True, content_commitment=False,
                             key_encipherment=False, data_encipherment=False, key_agreement=False,
                             key_cert_sign=ca, crl_sign=ca, encipher_only=False,
                             decipher_only=False)  # fmt: skip

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    valid = (now - dt.timedelta(days=1), now + dt.timedelta(days=365))
    ca = (
        x509.CertificateBuilder().subject_name(name("alice test CA")).issuer_name(name("alice test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(valid[0]).not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    leaf = (
        x509.CertificateBuilder().subject_name(name("alice test signer")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(valid[0]).not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    pem = serialization.Encoding.PEM
    chain = leaf.public_bytes(pem) + ca.public_bytes(pem)
    private = key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
    return chain, private


def ai_manifest(tool: str, agent: str | None = None, *, ai: bool = True,
                when: str | None = None) -> dict[str, Any]:  # fmt: skip
    """A manifest definition: claim generator `tool`, one `c2pa.created` action (AI or camera)."""
    action: dict[str, Any] = {"action": "c2pa.created", "digitalSourceType": IPTC_CAMERA}
    if agent:
        action["softwareAgent"] = {"name": agent}
    if ai:
        action["digitalSourceType"] = IPTC_AI
    if when:
        action["when"] = when
    return {
        "claim_generator_info": [{"name": tool, "version": "1.0"}],
        "title": "sample",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [action]}}],
    }


def sign_bytes(data: bytes, mime: str, manifest: dict[str, Any]) -> bytes:
    """Embed a signed manifest into an asset (PNG, JPEG, WebP, GIF, MP4, MOV) in memory."""
    import c2pa

    chain, key = test_signing_material()
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, key, None))
    context = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
    out = io.BytesIO()
    with signer, c2pa.Builder(manifest, context=context) as builder:
        builder.sign(signer, mime, io.BytesIO(data), out)
    return out.getvalue()


def edit_manifest(tool: str, actions: tuple[str, ...] = ("c2pa.converted",)) -> dict[str, Any]:
    """A manifest of an edit: `c2pa.opened` on the parent ingredient, then `actions`."""
    opened = {"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]}}
    return {
        "claim_generator_info": [{"name": tool, "version": "1.0"}],
        "title": "edited",
        "assertions": [{"label": "c2pa.actions",
                        "data": {"actions": [opened, *({"action": a} for a in actions)]}}],
    }  # fmt: skip


def sign_edit(data: bytes, mime: str, manifest: dict[str, Any]) -> bytes:
    """Sign `data` again with `manifest`, the signed `data` itself as its parent ingredient.

    This is how an edit keeps history: the earlier manifest (e.g. Gemini's AI creation)
    becomes an ingredient's manifest and the new one is active.
    """
    import c2pa

    chain, key = test_signing_material()
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, key, None))
    context = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
    out = io.BytesIO()
    with signer, c2pa.Builder(manifest, context=context) as builder:
        parent = {"title": "parent", "relationship": "parentOf", "label": "parent"}
        builder.add_ingredient(parent, mime, io.BytesIO(data))
        builder.sign(signer, mime, io.BytesIO(data), out)
    return out.getvalue()


def write_c2pa_history(
    path: Path,
    tool: str = "Google C2PA Core Generator Library",
    agent: str | None = "Gemini",
    *,
    fmt: str = "PNG",
    when: str | None = None,
    edits: int = 1,
) -> Path:
    """An AI image (C2PA `c2pa.created`, trainedAlgorithmicMedia) edited `edits` times after:
    the AI step sits in the earliest ingredient's manifest, the active one only converts."""
    buf = io.BytesIO()
    sample_image((64, 64), seed_of(tool, agent, fmt, edits)).save(buf, fmt)
    data = sign_bytes(buf.getvalue(), MIME[fmt], ai_manifest(tool, agent, when=when))
    for _ in range(edits):
        data = sign_edit(data, MIME[fmt], edit_manifest(tool))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_c2pa_image(
    path: Path,
    tool: str = "ChatGPT",
    agent: str | None = "GPT-4o",
    *,
    ai: bool = True,
    fmt: str = "PNG",
    size: Size = (64, 64),
    when: str | None = None,
) -> Path:
    """An image signed with a C2PA manifest naming `tool` (and AI DigitalSourceType)."""
    buf = io.BytesIO()
    img: Image.Image = sample_image(size, seed_of(tool, agent, fmt))
    img.save(buf, fmt)
    signed = sign_bytes(buf.getvalue(), MIME[fmt], ai_manifest(tool, agent, ai=ai, when=when))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(signed)
    return path
