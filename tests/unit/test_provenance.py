"""Signed C2PA Content Credentials on outputs, read back with c2pa-python's own Reader."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import stat
from pathlib import Path

import c2pa
import numpy as np
import pytest
import soundfile

from emostudio.errors import EmostudioError
from emostudio.generation.media import VideoWriter, provenance, write_audio
from emostudio.generation.provenance import (GENERATION_ASSERTION, TRAINED_ALGORITHMIC_MEDIA, config_dir,
                                             read_credentials)
from emostudio.ui.cli import main

RATE = 16000


def speech_like(seconds: float = 0.5) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * RATE)) / RATE)).astype(np.float32)


def write_clip(path: Path, **kwargs) -> Path:
    with VideoWriter(path, 32, 32, 10, audio=speech_like(0.3), sample_rate=RATE, **kwargs) as video:
        for value in range(3):
            video.write(np.full((32, 32, 3), 60 * value, np.uint8))
    return path


def active_manifest(path: Path, mime: str) -> tuple[dict, str]:
    """The active manifest and validation state as an outside reader reports them."""
    with open(path, "rb") as stream, c2pa.Reader(mime, stream) as reader:
        store = json.loads(reader.json())
        return store["manifests"][store["active_manifest"]], reader.get_validation_state()


def flip_byte(source: Path, target: Path, position: int) -> Path:
    data = bytearray(source.read_bytes())
    data[position] ^= 0xFF
    target.write_bytes(bytes(data))
    return target


def test_wav_carries_a_valid_manifest_naming_generator_and_emotion(tmp_path: Path) -> None:
    out = write_audio(tmp_path / "a.wav", speech_like(), RATE, provenance("test voice", "happy:0.80"))
    manifest, state = active_manifest(out, "audio/wav")
    assert state == "Valid"
    actions = next(a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    created = next(a for a in actions if a["action"] == "c2pa.created")
    assert created["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    generation = next(a for a in manifest["assertions"] if a["label"] == GENERATION_ASSERTION)["data"]
    assert generation == {"generator": "test voice", "emotion": "happy:0.80"}
    assert manifest["claim_generator_info"][0]["name"] == "emostudio"
    samples, _ = soundfile.read(out)  # still an ordinary WAV
    assert np.allclose(samples, speech_like(), atol=1e-3)


def test_flac_and_mp4_are_signed_and_an_input_is_an_ingredient(tmp_path: Path) -> None:
    flac = write_audio(tmp_path / "a.flac", speech_like(), RATE, provenance("test voice", "sad"))
    assert read_credentials(flac).valid
    portrait = tmp_path / "me.png"
    import PIL.Image

    PIL.Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(portrait)
    clip = write_clip(tmp_path / "c.mp4", metadata=provenance("test head", "angry", ingredients=[portrait, None]))
    manifest, state = active_manifest(clip, "video/mp4")
    assert state == "Valid"
    assert [item["title"] for item in manifest["ingredients"]] == ["me.png"]
    found = read_credentials(clip)
    assert found.valid and found.emotion == "angry" and found.ingredients == ["me.png"]


def test_local_certificate_is_made_once_with_a_private_key(tmp_path: Path) -> None:
    write_audio(tmp_path / "a.wav", speech_like(), RATE, provenance("x", "neutral"))
    key = config_dir() / "signing" / "key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert str(config_dir()).startswith(os.environ["XDG_CONFIG_HOME"])
    before = key.read_bytes()
    write_audio(tmp_path / "b.wav", speech_like(), RATE, provenance("x", "neutral"))
    assert key.read_bytes() == before
    assert read_credentials(tmp_path / "b.wav").signer == "emostudio local signer"


def test_verify_accepts_good_files_and_refuses_stripped_tampered_and_non_media(tmp_path: Path, capsys) -> None:
    good = write_audio(tmp_path / "good.wav", speech_like(), RATE, provenance("test voice", "happy"))
    clip = write_clip(tmp_path / "good.mp4", metadata=provenance("test head", "calm"))
    assert main(["verify", str(good), str(clip)]) == 0
    printed = capsys.readouterr().out
    assert "good.wav: valid" in printed and "emotion happy" in printed and "emotion calm" in printed

    stripped = tmp_path / "stripped.wav"
    soundfile.write(stripped, soundfile.read(good)[0], RATE)  # same sound, re-saved without the manifest
    header = 200  # past the RIFF header and tags, inside the samples
    tampered_wav = flip_byte(good, tmp_path / "tampered.wav", header + 1000)
    data = clip.read_bytes()
    tampered_mp4 = flip_byte(clip, tmp_path / "tampered.mp4", data.find(b"mdat") + 100)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    for bad, says in ((stripped, "no Content Credentials"), (tampered_wav, "INVALID"), (tampered_mp4, "INVALID"),
                      (text, "not a media file"), (tmp_path / "missing.wav", "does not exist")):
        assert main(["verify", str(bad)]) == 2, bad
        assert says in capsys.readouterr().out
    assert main(["verify", str(good), str(stripped)]) == 2  # one bad file fails the run


def make_user_certificate(folder: Path, expired: bool = False) -> tuple[Path, Path]:
    """A user's own CA-issued ES256 certificate and key, as a user would bring them."""
    from emostudio.generation.provenance import _make_local_certificate

    chain, key = folder / "chain.pem", folder / "key.pem"
    _make_local_certificate(chain, key)
    if expired:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        own = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "old")])
        old = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(own.public_key())
               .serial_number(1).not_valid_before(now - datetime.timedelta(days=30))
               .not_valid_after(now - datetime.timedelta(days=1)).sign(own, hashes.SHA256()))
        chain.write_bytes(old.public_bytes(serialization.Encoding.PEM))
        key.write_bytes(own.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return chain, key


def test_a_user_certificate_signs_instead_of_the_local_one(tmp_path: Path, monkeypatch) -> None:
    chain, key = make_user_certificate(tmp_path)
    local_key = (config_dir() / "signing" / "key.pem")
    monkeypatch.setenv("EMOSTUDIO_SIGNING_CERT", str(chain))
    monkeypatch.setenv("EMOSTUDIO_SIGNING_KEY", str(key))
    out = write_audio(tmp_path / "mine.wav", speech_like(), RATE, provenance("x", "happy"))
    assert read_credentials(out).valid
    with open(out, "rb") as stream, c2pa.Reader("audio/wav", stream) as reader:
        store = json.loads(reader.json())
    # the certificate chain in the manifest is the user's, not the local one
    assert store["manifests"][store["active_manifest"]]["signature_info"]["cert_serial_number"] is not None
    from cryptography import x509

    serial = x509.load_pem_x509_certificates(chain.read_bytes())[0].serial_number
    assert store["manifests"][store["active_manifest"]]["signature_info"]["cert_serial_number"] == str(serial)
    assert not local_key.exists() or local_key.read_bytes() != key.read_bytes()


def test_a_signing_json_in_the_config_folder_is_used(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    (tmp_path / "config" / "emostudio").mkdir(parents=True)
    chain, key = make_user_certificate(tmp_path)
    (tmp_path / "config" / "emostudio" / "signing.json").write_text(json.dumps({"certificate": str(chain),
                                                                                "key": str(key)}))
    out = write_audio(tmp_path / "mine.wav", speech_like(), RATE, provenance("x", "happy"))
    assert read_credentials(out).valid
    assert not (tmp_path / "config" / "emostudio" / "signing" / "key.pem").exists()  # no local one was made


@pytest.mark.parametrize("problem, says", [("missing", "does not exist"), ("expired", "expired"),
                                           ("mismatched", "does not belong")])
def test_bad_user_certificates_are_refused_before_writing(tmp_path: Path, monkeypatch, problem, says) -> None:
    chain, key = make_user_certificate(tmp_path, expired=problem == "expired")
    if problem == "missing":
        key.unlink()
    if problem == "mismatched":
        other = tmp_path / "other"
        other.mkdir()
        shutil.copy(make_user_certificate(other)[1], key)
    monkeypatch.setenv("EMOSTUDIO_SIGNING_CERT", str(chain))
    monkeypatch.setenv("EMOSTUDIO_SIGNING_KEY", str(key))
    with pytest.raises(EmostudioError, match=says):
        write_audio(tmp_path / "out.wav", speech_like(), RATE, provenance("x", "happy"))
    with pytest.raises(EmostudioError, match=says):
        write_clip(tmp_path / "out.mp4", metadata=provenance("x", "happy"))
    assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob(".out*"))
