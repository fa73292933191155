import tomllib

import pytest

from meshprep.pipeline import DEFAULTS, ConfigError, config_hash, dump_toml, resolve_config


def test_defaults_are_complete_and_valid():
    config = resolve_config()
    assert config["watertight"]["resolution"] == 512
    assert config["run"]["steps"] == ["load", "normalize", "curate", "watertight", "voxelize",
                                      "sample", "render", "write"]
    assert set(config) == set(DEFAULTS)


def test_file_then_overrides(tmp_path):
    path = tmp_path / "meshprep.toml"
    path.write_text('[watertight]\nresolution = 256\n[sample]\nlayout = "hunyuan3d"\n'
                    'angle = 45\n[steps.slow]\nseconds = 2\n')
    config = resolve_config(path, {"watertight": {"resolution": 128, "device": None}})
    assert config["watertight"]["resolution"] == 128  # the command line wins
    assert config["watertight"]["device"] == "cpu"  # None means "not given"
    assert config["sample"]["layout"] == "hunyuan3d"
    assert config["sample"]["angle"] == 45.0 and isinstance(config["sample"]["angle"], float)
    assert config["steps"]["slow"]["seconds"] == 2


@pytest.mark.parametrize("text, message", [
    ("[watertight]\nresolutoin = 256\n", "unknown key watertight.resolutoin"),
    ("[paint]\nviews = 8\n", "unknown section [paint]"),
    ("[watertight]\nresolution = '256'\n", "watertight.resolution must be int"),
    ("[watertight]\nresolution = true\n", "watertight.resolution must be int"),
    ("[sample]\nlayout = 'dora'\n", "sample.layout must be one of"),
    ("[limits]\ntimeout_s = 0\n", "limits.timeout_s must be positive"),
    ("[watertight\n", "cannot read config"),
])
def test_bad_config_is_refused(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        resolve_config(path)


def test_hash_covers_outputs_not_limits():
    base = resolve_config()
    assert config_hash(base) == config_hash(resolve_config())
    assert config_hash(base) != config_hash(resolve_config(
        overrides={"watertight": {"resolution": 256}}))
    assert config_hash(base) == config_hash(resolve_config(
        overrides={"limits": {"timeout_s": 5.0, "memory_mb": 100}}))
    assert config_hash(base) == config_hash(resolve_config(
        overrides={"curate": {"max_plane_share": 0.5}}))


def test_dump_toml_round_trips(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[steps."pkg.mod:fn"]\nthreshold = 0.5\nname = "a \\"b\\""\n')
    config = resolve_config(path)
    text = dump_toml(config)
    assert tomllib.loads(text) == config
    assert text.startswith(f"# meshprep run configuration, hash {config_hash(config)}")
