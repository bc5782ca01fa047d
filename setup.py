"""Builds the Cython pricing engine (``fastcore._engine``).

Everything else about the distribution lives in ``pyproject.toml``.
"""
from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(
        "fastcore._engine",
        ["fastcore/_engine.pyx"],
        extra_compile_args=["-O2"],
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"embedsignature": True},
    )
)
