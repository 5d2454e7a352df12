"""Facts read from Slicer's own source that the conformance tests check our files against.

One place for them, with the tag they were read from. Read from the Slicer repository
(https://github.com/Slicer/Slicer) at tag :data:`SLICER_TAG`; v5.12.0 gives the same lists.
To refresh: ``git show <tag>:SuperBuild/External_python-<name>.cmake`` and take the
``name==version`` lines of its requirements block.
"""

from __future__ import annotations

#: The Slicer release the facts below were read from.
SLICER_TAG = "v5.12.3"

#: The oldest Slicer the extension supports (``find_package(Slicer <floor> REQUIRED)``):
#: ``slicer.packaging`` (``pip_ensure``, ``load_requirements``) first ships in 5.12.0
#: (``Base/Python/slicer/packaging.py`` is absent at v5.10.0), and so does pydicom 3.
SLICER_VERSION_FLOOR = "5.12"

#: Python of Slicer 5.12 (top-level ``CMakeLists.txt``: ``Slicer_REQUIRED_PYTHON_VERSION``).
SLICER_PYTHON = "3.12.10"

#: Python packages Slicer bundles, by normalised name (PEP 503): version and the SuperBuild
#: file that pins it. Packages not named here must be in each module's requirements file.
BUNDLED_PACKAGES: dict[str, tuple[str, str]] = {
    "simpleitk": ("2.5.5", "SuperBuild/External_python-SimpleITK.cmake"),
    "numpy": ("2.4.6", "SuperBuild/External_python-numpy.cmake"),
    "scipy": ("1.17.1", "SuperBuild/External_python-scipy.cmake"),
    "pydicom": ("3.0.2", "SuperBuild/External_python-dicom-requirements.cmake"),
    "highdicom": ("0.27.0", "SuperBuild/External_python-dicom-requirements.cmake"),
    "dicomweb-client": ("0.61.0", "SuperBuild/External_python-dicom-requirements.cmake"),
    "dcmqi": ("0.4.0", "SuperBuild/External_python-dicom-requirements.cmake"),
    "pillow": ("12.2.0", "SuperBuild/External_python-dicom-requirements.cmake"),
    "pyjpegls": ("1.5.1", "SuperBuild/External_python-dicom-requirements.cmake"),
    "retrying": ("1.4.2", "SuperBuild/External_python-dicom-requirements.cmake"),
    "typing-extensions": ("4.15.0", "SuperBuild/External_python-dicom-requirements.cmake"),
    "six": ("1.17.0", "SuperBuild/External_python-dicom-requirements.cmake"),
    "packaging": ("26.2", "SuperBuild/External_python-pythonqt-requirements.cmake"),
    "pyparsing": ("3.3.2", "SuperBuild/External_python-pythonqt-requirements.cmake"),
    "requests": ("2.34.2", "SuperBuild/External_python-requests-requirements.cmake"),
    "certifi": ("2026.5.20", "SuperBuild/External_python-requests-requirements.cmake"),
    "charset-normalizer": ("3.4.7", "SuperBuild/External_python-requests-requirements.cmake"),
    "idna": ("3.16", "SuperBuild/External_python-requests-requirements.cmake"),
    "urllib3": ("2.7.0", "SuperBuild/External_python-requests-requirements.cmake"),
    "pip": ("26.1.1", "SuperBuild/External_python-pip.cmake"),
    "setuptools": ("82.0.1", "SuperBuild/External_python-setuptools.cmake"),
    "wheel": ("0.47.0", "SuperBuild/External_python-wheel.cmake"),
    "gitpython": ("3.1.50", "SuperBuild/External_python-extension-manager-requirements.cmake"),
    "chardet": ("7.4.3", "SuperBuild/External_python-extension-manager-requirements.cmake"),
    "couchdb": ("1.2", "SuperBuild/External_python-extension-manager-requirements.cmake"),
    "gitdb": ("4.0.12", "SuperBuild/External_python-extension-manager-requirements.cmake"),
    "smmap": ("5.0.3", "SuperBuild/External_python-extension-manager-requirements.cmake"),
    "pygithub": ("2.9.1", "SuperBuild/External_python-extension-manager-ssl-requirements.cmake"),
    "pyjwt": ("2.13.0", "SuperBuild/External_python-extension-manager-ssl-requirements.cmake"),
    "pynacl": ("1.6.2", "SuperBuild/External_python-extension-manager-ssl-requirements.cmake"),
    "cryptography": (
        "48.0.0",
        "SuperBuild/External_python-extension-manager-ssl-requirements.cmake",
    ),
    "cffi": ("2.0.0", "SuperBuild/External_python-extension-manager-ssl-requirements.cmake"),
    "pycparser": ("3.0", "SuperBuild/External_python-extension-manager-ssl-requirements.cmake"),
    "python-dateutil": (
        "2.9.0.post0",
        "SuperBuild/External_python-extension-manager-ssl-requirements.cmake",
    ),
    "deprecated": ("1.3.1", "SuperBuild/External_python-extension-manager-ssl-requirements.cmake"),
    "wrapt": ("2.2.1", "SuperBuild/External_python-extension-manager-ssl-requirements.cmake"),
}

#: Built into Slicer itself rather than pip-installed (VTK's Python wrapping).
BUILT_IN_MODULES = ("vtk",)


def normalise(name: str) -> str:
    """PEP 503 normalised distribution name (``SimpleITK`` -> ``simpleitk``)."""
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


#: ``cmake_minimum_required`` of Slicer 5.12's extension template
#: (``Utilities/Templates/Extensions/Default/CMakeLists.txt``).
TEMPLATE_CMAKE_MINIMUM = "3.28.0...3.28.0"
