"""ds2-tf: Deep Speech 2 for TensorFlow / Keras 3.

``ds2_tf.load_model("ds2_small_en")`` (a released model's name, or a run directory) returns a
:class:`~ds2_tf.inference.recognizer.Recognizer`; ``.transcribe(waveform)`` gives the text.
"""


def load_model(name_or_path="ds2_small_en", decoder: str = "greedy", precision: str = "auto",
               **decoder_options):
    """A recognizer for a released model (e.g. ``"ds2_small_en"``) or a run directory;
    ``precision`` "auto" (bfloat16 on CPUs with bfloat16 instructions), "float32" or "bfloat16"."""
    from ds2_tf.inference.recognizer import Recognizer

    return Recognizer.load(name_or_path, decoder, precision=precision, **decoder_options)


def released_models() -> list[str]:
    """Names of the released models shipped with this installation."""
    from ds2_tf.model.released import released_models as names

    return names()
