"""probekit.options: one check and coercion of options, whichever way they arrive."""

import pytest

from probekit import options
from probekit.errors import ProbekitError


def make(n_train: int = 10, rate: float = 0.5, rates: tuple[float, ...] = (0.5,), cap: int | None = None):
    return dict(n_train=n_train, rate=rate, rates=rates, cap=cap)


@pytest.mark.parametrize("given", [{"n_train": "300"}, {"n_train": 300.0}, {"n_train": 300}])
def test_command_line_toml_and_python_values_reach_the_component_alike(given):
    checked = options.check_options(make, given, "task 't'")
    assert checked == {"n_train": 300} and type(checked["n_train"]) is int


def test_parse_pairs_reads_toml_literals():
    assert options.parse_pairs(["n=3", "rates=[0.5, 0.1]", "name=abc", "flag=true"], "-E") == {
        "n": 3, "rates": [0.5, 0.1], "name": "abc", "flag": True}
    with pytest.raises(ProbekitError, match="expected KEY=VALUE"):
        options.parse_pairs(["novalue"], "-E")


@pytest.mark.parametrize("value, message", [
    (300.5, "option 'n_train' of task 't' must be an integer, got 300.5"),
    (True, "must be an integer"),
    ("x", "must be an integer"),
])
def test_non_integers_are_refused(value, message):
    with pytest.raises(ProbekitError, match=message):
        options.check_options(make, {"n_train": value}, "task 't'")


def test_unions_lists_and_unknown_names():
    checked = options.check_options(make, {"rates": "0.5,0.1", "cap": "none"}, "encoder 'e'")
    assert checked == {"rates": (0.5, 0.1), "cap": None}
    with pytest.raises(ProbekitError, match="has no option 'rats'. Did you mean 'rates'"):
        options.check_options(make, {"rats": 1}, "encoder 'e'")


def test_range_checks_word_every_message_alike():
    what = options.option("dim", "encoder 'ema'")
    with pytest.raises(ProbekitError, match=r"^option 'dim' of encoder 'ema' must be an integer >= 1, got 0\.$"):
        options.check_int(0, what, 1)
    with pytest.raises(ProbekitError, match=r"must be a number in \(0, 1\], got 1\.5"):
        options.check_float(1.5, "rates", 0.0, 1.0, low_open=True)
    with pytest.raises(ProbekitError, match="must be one of 'a', 'b'"):
        options.check_choice("c", "mode", ("a", "b"))
    assert options.check_int(3, what, 1, 5) == 3 and options.check_float("0.5", "x", 0.0, 1.0) == 0.5


def test_ema_rates_are_checked_once_for_the_encoder_and_the_bound():
    from probekit import registry
    from probekit.dilution.theory import make_bank

    for bad, message in (((0.5, 0.5), "repeats a rate"), ((0.5, 1.5), r"must be a number in \(0, 1\]")):
        with pytest.raises(ProbekitError, match=message):
            registry.encoders.create("ema", rates=bad)
        with pytest.raises(ProbekitError, match=message):
            make_bank(bad)


def test_one_name_for_the_gaussian_embedding():
    from probekit import registry
    from probekit.dilution.theory import make_bank

    assert registry.encoders.create("ema", embedding="random").embedding == make_bank([0.5], embedding="random").embedding
    with pytest.raises(ProbekitError, match="embedding"):
        make_bank([0.5], embedding="gaussian")
