"""SENDAPP_GC_THRESHOLDS: three positive integers, or a clear error naming the value."""
import pytest

from sendapp.config import Config


def _config(tmp_path, value):
    env = {"SENDAPP_INSTANCE_PATH": str(tmp_path)}
    if value is not None:
        env["SENDAPP_GC_THRESHOLDS"] = value
    return Config(env)


def test_gc_thresholds_are_read_from_the_environment(tmp_path):
    assert _config(tmp_path, "1000,5,3").GC_THRESHOLDS == (1000, 5, 3)


@pytest.mark.parametrize("value", ["1000,5", "1000,5,3,1", "0,10,10", "a,b,c", "-1,10,10"])
def test_malformed_gc_thresholds_are_refused_with_the_value_named(tmp_path, value):
    with pytest.raises(ValueError, match="three positive integers"):
        _config(tmp_path, value)
