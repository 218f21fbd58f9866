"""Every default and choice list has one home, ``glymph.defaults``: the command line, the module
logic and the method registries all read it."""

from __future__ import annotations

import argparse
import dataclasses

import pytest
from conftest import require_module

from glymph import defaults
from glymph.alps.rois import LABELS, builtin_roi_set
from glymph.cli import build_parser
from glymph.errors import GlymphError


def parsed(*argv: str):
    return build_parser().parse_args(list(argv))


def test_command_line_defaults_are_the_backend_defaults():
    alps = parsed("alps", "dwi.nii.gz", "--out", "o")
    assert alps.max_b == defaults.MAX_B and alps.b0_threshold == defaults.B0_THRESHOLD
    assert alps.roi_diameters == [defaults.ROI_DIAMETER_MM] and alps.frame == defaults.FRAME
    assert alps.registration_contrast == defaults.REGISTRATION_CONTRAST
    epvs = parsed("epvs", "t1.nii.gz", "--out", "o")
    assert epvs.method == defaults.EPVS_METHOD and epvs.min_length_mm == defaults.MIN_LENGTH_MM
    vein = parsed("vein", "swi.nii.gz", "--out", "o")
    assert vein.method == defaults.VEIN_METHOD and vein.slab_mm == defaults.SLAB_MM


@pytest.mark.parametrize(
    ("option", "choices"),
    [
        ("--roi-set", tuple(defaults.ROI_SETS)),
        ("--frame", defaults.FRAMES),
        ("--registration-contrast", defaults.REGISTRATION_CONTRASTS),
    ],
)
def test_command_line_choices_are_the_backend_choices(option, choices):
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    actions = {a.option_strings[0]: a for a in commands.choices["alps"]._actions if a.option_strings}
    assert tuple(actions[option].choices) == tuple(choices)


def test_every_roi_set_and_method_resolves():
    for name in defaults.ROI_SETS:
        assert builtin_roi_set(name).array().shape == (len(LABELS), 3)
    assert defaults.ROI_SET in defaults.ROI_SETS and defaults.FRAME in defaults.FRAMES
    for registry, default in (
        (defaults.EPVS_METHODS, defaults.EPVS_METHOD),
        (defaults.VEIN_METHODS, defaults.VEIN_METHOD),
    ):
        assert default in registry.names
        for name in registry.names:
            assert callable(registry.get(name))
        for name in registry.planned:
            with pytest.raises(GlymphError, match=f"'{name}' is not available"):
                registry.get(name)


def test_module_logic_options_default_to_the_backend_defaults():
    require_module("slicer")
    from ALPSLib import AlpsOptions
    from EPVSLib import EpvsOptions
    from VeinLib import VeinOptions

    expected = {
        AlpsOptions: {
            "roi_set": defaults.ROI_SET,
            "roi_diameter_mm": defaults.ROI_DIAMETER_MM,
            "frame": defaults.FRAME,
            "placement": defaults.PLACEMENT,
            "registration_contrast": defaults.REGISTRATION_CONTRAST,
            "max_b": defaults.MAX_B,
        },
        EpvsOptions: {"method": defaults.EPVS_METHOD, "min_length_mm": defaults.MIN_LENGTH_MM},
        VeinOptions: {"method": defaults.VEIN_METHOD, "slab_mm": defaults.SLAB_MM},
    }
    for options, values in expected.items():
        fields = {f.name: f.default for f in dataclasses.fields(options)}
        assert {name: fields[name] for name in values} == values, options.__name__
