"""The rules of a sweep file, each with the message a person gets."""

from __future__ import annotations

import json

import pytest

from sweepctl.spec import inspect_file


def problems(report, severity="error"):
    return [(p.line, p.path, p.message, p.hint) for p in report.problems if p.severity == severity]


def test_valid_file_has_no_problems(write_sweep):
    report = inspect_file(
        write_sweep(
            """
            program: train.py
            method: bayes
            metric: {name: val_loss, goal: minimize}
            parameters:
              lr: {distribution: log_uniform_values, min: 1.0e-5, max: 0.1}
              layers: {values: [1, 2, 3]}
              opt:
                parameters:
                  beta: {min: 0.8, max: 0.99}
            early_terminate: {type: hyperband, min_iter: 3}
            """
        )
    )
    assert report.valid and report.problems == []
    assert [p.name for p in report.spec.params] == ["layers", "lr", "opt.beta"]
    assert report.spec.params[2].distribution == "uniform"


def test_misspelled_keys_get_did_you_mean(write_sweep):
    report = inspect_file(
        write_sweep(
            """
            method: bayesian
            metrc: {name: loss}
            parameters:
              lr: {distribution: log_uniformm, min: 0.1, max: 1.0}
              wd: {distrbution: uniform, min: 0.1, max: 1.0}
            """
        )
    )
    found = problems(report)
    assert (
        1,
        "method",
        "expected one of grid, random, bayes, custom; found the string 'bayesian'",
        "did you mean 'bayes'?",
    ) in found
    assert any(p[:2] == (2, "metrc") and p[3] == "did you mean 'metric'?" for p in found)
    assert any(p[:2] == (4, "parameters.lr.distribution") and "log_uniform" in p[3] for p in found)
    assert any(
        p[1] == "parameters.wd.distrbution" and p[3] == "did you mean 'distribution'?"
        for p in found
    )


def test_min_max_mixing_int_and_float_is_ambiguous_at_top_level_only(write_sweep):
    top = inspect_file(write_sweep("method: random\nparameters:\n  lr: {min: 0, max: 0.5}\n"))
    assert len(top.errors) == 1 and "ambiguous" in top.errors[0].message
    assert "1.0" in top.errors[0].hint
    nested = inspect_file(
        write_sweep(
            "method: random\nparameters:\n  o:\n    parameters:\n      lr: {min: 0, max: 0.5}\n"
        )
    )
    assert nested.valid
    assert nested.spec.params[0].distribution == "uniform"


def test_ranges_probabilities_and_q(write_sweep):
    report = inspect_file(
        write_sweep(
            """
            method: random
            parameters:
              a: {min: 10, max: 1}
              b: {values: [x, y], probabilities: [0.5, 0.6]}
              c: {values: [x, y], probabilities: [1.0]}
              d: {distribution: q_uniform, min: 0, max: 1, q: 0}
              n:
                parameters:
                  e: {min: 1.0, max: 0.1}
            """
        )
    )
    messages = {p.path: p.message for p in report.errors}
    assert messages["parameters.a.min"] == "min 10 must be less than max 1"
    assert messages["parameters.b.probabilities"] == "probabilities sum to 1.1, not 1"
    assert (
        messages["parameters.c.probabilities"] == "1 probabilities for 2 values: give one per value"
    )
    assert messages["parameters.d.q"] == "must be > 0, found 0"
    assert messages["parameters.n.parameters.e.min"] == "min 1.0 must be less than max 0.1"


def test_grid_needs_discrete_parameters(write_sweep):
    report = inspect_file(
        write_sweep(
            """
            method: grid
            parameters:
              a: {values: [1, 2]}
              b: {min: 1, max: 4}
              c: {distribution: q_uniform, min: 0, max: 1, q: 0.25}
              d: {min: 0.1, max: 0.2}
              e: {values: [1, 2], probabilities: [0.5, 0.5]}
            """
        )
    )
    assert [(p.line, p.path) for p in report.errors] == [(6, "parameters.d"), (7, "parameters.e")]
    assert "grid search cannot enumerate 'd'" in report.errors[0].message


def test_bayes_and_hyperband_need_a_metric(write_sweep):
    report = inspect_file(
        write_sweep(
            """
            method: bayes
            parameters: {a: {values: [1, 2]}}
            early_terminate: {type: hyperband, max_iter: 27}
            """
        )
    )
    messages = [p.message for p in report.errors]
    assert "bayes search needs a `metric` to optimise" in messages
    assert "early termination needs a `metric` to compare runs on" in messages
    assert "hyperband needs `min_iter`, or `max_iter` together with `s`" in messages


def test_program_needed_only_when_command_uses_it(write_sweep):
    assert inspect_file(write_sweep("method: grid\nparameters: {a: {value: 1}}\n")).valid
    report = inspect_file(
        write_sweep(
            "method: grid\nparameters: {a: {value: 1}}\ncommand:\n  - ${env}\n  - ${program}\n"
        )
    )
    assert [p.message for p in report.errors] == [
        "the command uses ${program} but the file has no `program:`"
    ]


def test_unknown_macros_are_warnings_with_did_you_mean(write_sweep):
    report = inspect_file(
        write_sweep(
            """
            method: grid
            program: train.py
            parameters: {a: {value: 1}}
            command:
              - ${env}
              - ${interpeter}
              - ${program}
              - ${project}
              - --cfg=${args}
              - ${envvar:HOME}
            """
        )
    )
    assert report.valid
    warnings = problems(report, "warning")
    assert warnings[0][0] == 6 and "silently drops it" in warnings[0][2]
    assert warnings[0][3] == "did you mean ${interpreter}?"
    assert warnings[1][0] == 8 and "${project}" in warnings[1][2]
    assert warnings[2][0] == 9 and "passed literally" in warnings[2][2]
    assert warnings[3][0] == 10 and "${envvar:HOME} puts the value of $HOME" in warnings[3][2]
    assert len(warnings) == 4


def test_sci_notation_is_a_float_with_a_warning(write_sweep):
    report = inspect_file(
        write_sweep(
            """
            method: random
            parameters:
              lr: {min: 1e-5, max: 5E-3}
              wd: {values: [1e-4, '1e-3', 1.0e-2, -1e3]}
            """
        )
    )
    assert report.valid
    assert report.spec.params[0].spec == {"min": 1e-5, "max": 5e-3}
    assert report.spec.params[1].values == [1e-4, "1e-3", 1e-2, -1000.0]
    lines = [(p.line, p.path, p.hint) for p in report.warnings]
    assert lines == [
        (3, "parameters.lr.min", "write it as 1.0e-5 so W&B reads a number too"),
        (3, "parameters.lr.max", "write it as 5.0e-3 so W&B reads a number too"),
        (4, "parameters.wd.values[0]", "write it as 1.0e-4 so W&B reads a number too"),
        (4, "parameters.wd.values[3]", "write it as -1.0e+3 so W&B reads a number too"),
    ]


def test_deprecated_log_uniform_explains_exponents(write_sweep):
    report = inspect_file(
        write_sweep(
            "method: random\nparameters:\n"
            "  lr: {distribution: log_uniform, min: -9.21, max: -2.3}\n"
        )
    )
    assert report.valid
    (warning,) = report.warnings
    assert "exponents of e" in warning.message and "0.0001 to 0.1" in warning.message
    assert warning.hint.startswith("use `distribution: log_uniform_values`")


def test_boolean_parameter_name_and_bad_names(write_sweep):
    report = inspect_file(
        write_sweep("method: grid\nparameters:\n  off: {value: 1}\n  1a: {value: 2}\n")
    )
    found = problems(report)
    assert found[0][:2] == (3, "parameters.False") and found[0][3] == "quote it: 'off':"
    assert found[1][:2] == (4, "parameters.1a")


def test_parameter_that_is_not_a_mapping(write_sweep):
    report = inspect_file(write_sweep("method: grid\nparameters:\n  lr: 0.01\n"))
    (error,) = report.errors
    assert error.line == 3 and error.hint.startswith("write `lr: {value: 0.01}`")


def test_values_with_a_range_distribution(write_sweep):
    report = inspect_file(
        write_sweep(
            "method: random\nparameters:\n  lr:\n    distribution: uniform\n    min: 0.1\n"
            "    max: 0.2\n    values: [1, 2]\n"
        )
    )
    (error,) = report.errors
    assert error.line == 7 and "does not go with distribution uniform" in error.message


def test_top_level_unknown_keys_have_specific_hints(write_sweep):
    report = inspect_file(write_sweep("method: grid\ncount: 5\nparameters: {a: {value: 1}}\n"))
    (error,) = report.errors
    assert (error.line, error.message) == (2, "unknown key 'count' in the top level")
    assert "--count" in error.hint


def test_wrapped_config_names_its_key(write_sweep):
    report = inspect_file(write_sweep("sweep:\n  method: grid\n  parameters: {a: {value: 1}}\n"))
    (error,) = report.errors
    assert error.message == "the sweep config sits under `sweep:`, not at the top level"


def test_command_as_a_string(write_sweep):
    report = inspect_file(
        write_sweep("method: grid\nparameters: {a: {value: 1}}\ncommand: python x.py\n")
    )
    (error,) = report.errors
    assert error.line == 3 and "YAML list" in error.hint


def test_duplicate_key_warns(write_sweep):
    report = inspect_file(
        write_sweep("method: grid\nparameters:\n  a: {value: 1}\n  a: {value: 2}\n")
    )
    (warning,) = report.warnings
    assert "appears twice (lines 3 and 4)" in warning.message
    assert report.spec.params[0].spec == {"value": 2}


def test_sweepctl_block_is_ours(write_sweep):
    ok = inspect_file(
        write_sweep("method: random\nparameters: {a: {value: 1}}\nsweepctl: {seed: 3}\n")
    )
    assert ok.valid and ok.spec.options == {"seed": 3}
    bad = inspect_file(
        write_sweep("method: random\nparameters: {a: {value: 1}}\nsweepctl: {sed: 3}\n")
    )
    assert bad.errors[0].hint == "did you mean 'seed'?"


def test_json_files_work_with_lines(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps(
            {"method": "grid", "parameters": {"a": {"values": [1, 2]}, "b": {"valuez": 1}}},
            indent=2,
        )
    )
    report = inspect_file(path)
    (error,) = report.errors
    assert error.path == "parameters.b" and error.line == 10


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"# only a comment\n", "the file is empty"),
        (b"\x00\x01binary", "not a text file (it contains binary data)"),
        (b"\xff\xfe\xfa", "not UTF-8 text (undecodable byte)"),
        (
            b"- a\n- b\n",
            "the top level must be a mapping of keys (method:, parameters:, ...), found a list",
        ),
        (
            b"a: [1,\n",
            "invalid YAML: expected the node content, but found '<stream end>' "
            "(while parsing a flow node)",
        ),
    ],
)
def test_unreadable_files_are_one_clear_error(tmp_path, content, message):
    path = tmp_path / "s.yaml"
    path.write_bytes(content)
    report = inspect_file(path)
    (error,) = report.errors
    assert error.message == message


def test_missing_file_and_directory(tmp_path):
    assert inspect_file(tmp_path / "nope.yaml").errors[0].message == "no such file"
    assert inspect_file(tmp_path).errors[0].message == "is a directory, not a sweep file"


@pytest.mark.parametrize(
    ("early", "message"),
    [
        ("{type: hyperband, max_iter: 2, s: 2}", "has no band to stop runs at"),
        ("{type: hyperband, max_iter: 27, s: 2.0}", "must be a whole number like 2"),
        ("{type: hyperband, max_iter: 27, s: 0}", "has no band to stop runs at"),
    ],
)
def test_hyperband_settings_w_and_b_would_crash_on(write_sweep, early, message):
    report = inspect_file(
        write_sweep(
            f"method: random\nmetric: {{name: l}}\nparameters: {{a: {{values: [1]}}}}\n"
            f"early_terminate: {early}\n"
        )
    )
    (error,) = report.errors
    assert error.line == 4 and message in error.message


def test_both_hyperband_forms_warn_that_max_iter_wins(write_sweep):
    report = inspect_file(
        write_sweep(
            "method: random\nmetric: {name: l}\nparameters: {a: {values: [1]}}\n"
            "early_terminate: {type: hyperband, min_iter: 3, max_iter: 27, s: 2}\n"
        )
    )
    assert report.valid and "W&B uses max_iter" in report.warnings[0].message


def test_sci_notation_in_text_fields_stays_text(write_sweep):
    report = inspect_file(
        write_sweep(
            "name: 1e5\nmethod: grid\nprogram: 2e3\nparameters: {a: {value: 1e-3}}\n"
            "command: [--lr, 1e-5]\n"
        )
    )
    assert report.valid
    assert report.spec.name == "1e5" and report.spec.program == "2e3"
    assert report.spec.command == ("--lr", "1e-5")
    assert [p.line for p in report.warnings] == [4]  # only the parameter value is a number
