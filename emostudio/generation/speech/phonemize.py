"""Text to espeak-ng IPA phonemes, the alphabet Piper voices were trained on.

espeak-ng is loaded from the ``espeakng-loader`` wheel (which carries the library and its data),
through its C API. ``espeak_TextToPhonemes`` returns one clause at a time and drops punctuation,
so text is split at punctuation first and the marks are put back: Piper voices use them for
phrasing. espeak-ng keeps global state, so calls are serialised with a lock.
"""

from __future__ import annotations

import ctypes
import functools
import re
import threading
import unicodedata
from dataclasses import dataclass

from ...errors import EmostudioError

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_CHARS_UTF8 = 1
_ESPEAK_PHONEMES_IPA = 0x02
_CLAUSE_RE = re.compile(r"([^,;:.!?…]+)([,;:.!?…]*)")
_SENTENCE_RE = re.compile(r"[^.!?…]+[.!?…]*")
_WORD_RE = re.compile(r"[\w'’-]+")


@dataclass(frozen=True)
class PhonemizedSentence:
    """A sentence as phoneme characters, each tagged with the index of the word it belongs to.

    ``word_of_phoneme[i]`` is -1 for spaces and punctuation. ``words`` are the sentence's words as
    written; espeak-ng sometimes merges two words into one phoneme word ("I am"), in which case the
    written words share that phoneme word's time.
    """

    text: str
    phonemes: str
    word_of_phoneme: tuple[int, ...]
    words: tuple[str, ...]


class EspeakPhonemizer:
    def __init__(self, voice: str = "en-us") -> None:
        self.voice = voice
        self._lib = _espeak_library()
        with _LOCK:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise EmostudioError(f"espeak-ng has no voice {voice!r}; set 'espeak.voice' in the voice's "
                                     ".onnx.json to a language espeak-ng knows (e.g. 'en-us').")

    def _clause_phonemes(self, text: str) -> list[str]:
        with _LOCK:
            self._lib.espeak_SetVoiceByName(self.voice.encode())
            buffer = ctypes.c_char_p(text.encode("utf-8"))
            pointer = ctypes.pointer(buffer)
            pieces = []
            while buffer.value:
                result = self._lib.espeak_TextToPhonemes(pointer, _ESPEAK_CHARS_UTF8, _ESPEAK_PHONEMES_IPA)
                if result:
                    pieces.append(result.decode("utf-8").strip())
            return [piece for piece in pieces if piece]

    def sentences(self, text: str) -> list[PhonemizedSentence]:
        """Split text into sentences and phonemize each, keeping punctuation and word membership."""
        return [self.phonemize_sentence(match.group(0).strip())
                for match in _SENTENCE_RE.finditer(text) if _WORD_RE.search(match.group(0))]

    def phonemize_sentence(self, sentence: str) -> PhonemizedSentence:
        written_words = _WORD_RE.findall(sentence)
        phoneme_words: list[str] = []
        trailing_marks: list[str] = []  # punctuation after each phoneme word ("" if none)
        for clause, marks in _CLAUSE_RE.findall(sentence):
            if not _WORD_RE.search(clause):
                if trailing_marks and marks:
                    trailing_marks[-1] += marks.strip()
                continue
            words = unicodedata.normalize("NFD", " ".join(self._clause_phonemes(clause))).split()
            phoneme_words.extend(words)
            trailing_marks.extend([""] * len(words))
            if words and marks.strip():
                trailing_marks[-1] = marks.strip()[0]
        owner = _align_words(len(written_words), len(phoneme_words))
        phonemes: list[str] = []
        word_of_phoneme: list[int] = []
        for index, (word, marks) in enumerate(zip(phoneme_words, trailing_marks)):
            if index:
                phonemes.append(" ")
                word_of_phoneme.append(-1)
            phonemes.extend(word)
            word_of_phoneme.extend([owner[index]] * len(word))
            for mark in marks:
                phonemes.append(mark)
                word_of_phoneme.append(-1)
        return PhonemizedSentence(sentence, "".join(phonemes), tuple(word_of_phoneme), tuple(written_words))


def _align_words(written: int, spoken: int) -> list[int]:
    """Index of the written word each phoneme word belongs to (proportional when counts differ)."""
    if spoken == 0:
        return []
    if written == spoken or written == 0:
        return list(range(spoken))
    return [min(written - 1, int(i * written / spoken)) for i in range(spoken)]


_LOCK = threading.Lock()


@functools.cache
def _espeak_library() -> ctypes.CDLL:
    try:
        import espeakng_loader
    except ImportError as error:
        raise EmostudioError("Phonemes need espeak-ng; install it with 'pip install espeakng-loader'.") from error
    lib = ctypes.cdll.LoadLibrary(espeakng_loader.get_library_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
    with _LOCK:
        if lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0) <= 0:
            raise EmostudioError("espeak-ng failed to start; reinstall it with 'pip install --force-reinstall "
                                 "espeakng-loader'.")
    return lib
