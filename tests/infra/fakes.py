"""Fake `az`, `docker` and release-gate executables for the pipeline scripts' tests.

Azure and a Docker engine cannot be reached here. The fakes are small programs placed first
on PATH (or passed by path) that record every call as a JSON line and answer from a state
file that they also update, so the scripts' decisions (which commands, in which order) are
what the tests check.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

FAKE_AZ = r"""
import json, os, sys
from pathlib import Path

state_path = Path(os.environ["FAKE_AZ_STATE"])
log_path = Path(os.environ["FAKE_AZ_LOG"])
state = json.loads(state_path.read_text())
argv = sys.argv[1:]
entry = {"argv": argv}
# Parameter files are deleted right after the call: keep their content in the log.
for i, arg in enumerate(argv):
    if arg.startswith("@") and Path(arg[1:]).exists():
        entry.setdefault("files", {})[arg] = json.loads(Path(arg[1:]).read_text())

def opt(name, default=None):
    return argv[argv.index(name) + 1] if name in argv else default

def multi(name):
    if name not in argv:
        return []
    out = []
    for value in argv[argv.index(name) + 1:]:
        if value.startswith("-"):
            break
        out.append(value)
    return out

def save():
    state_path.write_text(json.dumps(state))

def done(out=None, code=0, err=""):
    if code == 0 and any(joined.startswith(prefix) for prefix in state.get("fail_after", [])):
        # Azure applied the change, then the CLI failed anyway (e.g. its long-running poll timed out).
        out, code, err = None, 1, "fake az: injected failure after the change was applied"
    if out is not None:
        sys.stdout.write(out if isinstance(out, str) else json.dumps(out))
    if err:
        sys.stderr.write(err)
    save()
    # Logged with the revisions' state after the call, so tests can check every step between.
    entry["code"] = code
    entry["active"] = sorted(n for n, r in state.get("revisions", {}).items() if r["active"])
    entry["weights"] = {n: r["weight"] for n, r in state.get("revisions", {}).items() if r["weight"]}
    with log_path.open("a") as log:
        log.write(json.dumps(entry) + "\n")
    sys.exit(code)

def switch_when_ready(name):
    # Single revision mode (postgres profile): ACA keeps the old revision until the new one is
    # ready, then gives it all traffic and deactivates the rest; a revision that never gets
    # ready never takes traffic.
    ready = state.get("health_state", {}).get(name, "Healthy") == "Healthy" and \
        state.get("running_state", {}).get(name, "Running").startswith("Running")
    if ready:
        for other, rev in state["revisions"].items():
            rev["weight"], rev["active"] = (100, True) if other == name else (0, False)

joined = " ".join(argv)
for prefix in state.get("fail", []):
    if joined.startswith(prefix):
        done(code=1, err=f"fake az: injected failure for {prefix}")

cmd = argv[:3]
revs = state.setdefault("revisions", {})
labels = state.setdefault("labels", {})
if argv[:2] == ["containerapp", "show"]:
    if not state.get("app_exists", True):
        done(code=3, err="ResourceNotFound")
    if "--query" in argv:
        done(state["fqdn"])
    done({"name": state["app"]})
CONTAINERS = ["web", "otel-collector"]  # as infra/modules/app.bicep declares them
if argv[:3] == ["containerapp", "revision", "list"]:
    shown = revs if "--all" in argv else {n: r for n, r in revs.items() if r["active"]}
    containers = lambda r: [{"name": c, "image": r["image"] if c == "web" else "otel"} for c in CONTAINERS]
    done([{"name": n, "properties": {"trafficWeight": r["weight"], "active": r["active"],
           "template": {"containers": containers(r)}}} for n, r in shown.items()])
if argv[:3] == ["containerapp", "revision", "show"]:
    name = opt("--revision")
    default = "Running" if name not in revs or revs[name]["active"] else "Stopped"
    run = state.get("running_state", {}).get(name, default)
    health = state.get("health_state", {}).get(name, "Healthy")
    done({"name": name, "properties": {"runningState": run, "healthState": health}})
if argv[:4] == ["containerapp", "revision", "label", "add"]:
    labels[opt("--label")] = opt("--revision")
    done()
# Checks the real CLI makes after parsing are mirrored below, each naming its source in
# azure-cli src/azure-cli/azure/cli/command_modules/containerapp/ (custom.py, _utils.py).
if argv[:4] == ["containerapp", "revision", "label", "swap"]:
    a, b = opt("--source"), opt("--target")
    missing = [x for x in (a, b) if x not in labels]  # custom.py swap_revision_label
    if a == b or missing:
        done(code=1, err=f"(ArgumentUsageError) Could not find label(s) {missing} in traffic.")
    labels[a], labels[b] = labels[b], labels[a]
    done()
if argv[:4] == ["containerapp", "revision", "label", "remove"]:
    if opt("--label") not in labels:  # custom.py remove_revision_label
        done(code=1, err="(ValidationError) Please specify a label name with an associated traffic weight.")
    labels.pop(opt("--label"))
    done()
# Stricter than Azure, which accepts traffic to an inactive revision and deactivating the
# revision that serves (microsoft/azure-container-apps#1345), leaving users with no replica:
# the fake refuses both, so a script that orders its steps wrongly fails here.
if argv[:3] in (["containerapp", "revision", "deactivate"], ["containerapp", "revision", "activate"]):
    name = opt("--revision")
    if name not in revs:
        done(code=3, err=f"(ResourceNotFound) revision {name} not found")
    if argv[2] == "deactivate" and revs[name]["weight"] > 0:
        done(code=1, err=f"fake az: {name} serves {revs[name]['weight']}% of traffic; deactivating it drops users")
    revs[name]["active"] = argv[2] == "activate"
    # A deactivated revision's replicas get SIGTERM: a real process standing in for it gets one too.
    if argv[2] == "deactivate" and revs[name].get("pid"):
        import signal
        try:
            os.kill(revs[name]["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass
    done()
if argv[:4] == ["containerapp", "ingress", "traffic", "set"]:
    for pair in multi("--revision-weight"):
        name, weight = pair.split("=")
        if name != "latest":
            revs[name]["weight"] = int(weight)
    for pair in multi("--label-weight"):
        label, weight = pair.split("=")
        if label not in labels:  # _utils.py _append_label_weights
            done(code=1, err=f"(ValidationError) No labels '{label}' assigned to any traffic weight.")
        revs[labels[label]]["weight"] = int(weight)
    total = sum(r["weight"] for r in revs.values())
    if total != 100:
        done(code=1, err=f"weights sum to {total}")  # ARM refuses it; the CLI would rescale the rest
    inactive = [n for n, r in revs.items() if r["weight"] and not r["active"]]
    if inactive:  # see the activate/deactivate note above (#1345)
        done(code=1, err=f"fake az: traffic to inactive revision(s) {inactive}")
    done()
if argv[:2] == ["containerapp", "update"]:
    # custom.py update_containerapp_logic: --image on an app with several containers needs
    # --container-name. A name that matches no container makes the CLI add a new container
    # with just that image: never what a release wants, so the fake refuses it too.
    container = opt("--container-name")
    if opt("--image") and container is None and len(CONTAINERS) > 1:
        done(code=1, err="(ValidationError) Usage error: --container-name is required when adding or updating"
                         " a container")
    if container is not None and container.lower() not in CONTAINERS:
        done(code=1, err=f"fake az: --container-name {container!r} would add a container, not update one")
    name = f"{state['app']}--{opt('--revision-suffix')}"
    revs[name] = {"weight": 0, "active": True, "image": opt("--image")}
    if state.get("mode") == "Single":
        switch_when_ready(name)
    done()
if argv[:2] == ["account", "show"]:
    done(state.get("user_type", "servicePrincipal"))  # only ever asked for --query user.type
if argv[:2] == ["account", "get-access-token"]:
    if "--resource" in argv:
        done("fake-entra-token")
    # An unsigned JWT shaped like an ARM token: header.payload.signature, base64url, no padding.
    import base64
    part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")
    claims = {"aud": "https://management.azure.com/", "oid": state.get("oid", "00000000-0000-0000-0000-0000000000aa")}
    done(".".join([part({"alg": "none", "typ": "JWT"}), part(claims), "sig"]))
if argv[:3] == ["deployment", "sub", "create"]:
    # The parameters as infra/main.bicep gets them: the stage's file, then the pipeline's own.
    params = {k: v.get("value") for f in entry.get("files", {}).values() for k, v in f["parameters"].items()}
    database = params.get("database", "sqlite")
    # Outputs main.bicep gives for them (the vault always; the profile picks the release step).
    string = lambda value: {"type": "String", "value": value}
    outputs = {
        "AZURE_KEY_VAULT_NAME": string(state.get("vault", "kv-fake")),
        "SERVICE_WEB_DATABASE_PROFILE": string(database),
        "AZURE_POSTGRES_SERVER_NAME": string("psql-fake" if database == "postgres" else ""),
    }
    if state.get("deploys_revisions") and params.get("deployApp", True):
        # infra/modules/app.bicep: each deployment here changes the template, so ACA makes a
        # revision (the pipeline's suffix, or one of its own). postgres runs in Single mode
        # (the ready revision takes all traffic); sqlite in Multiple mode, where traffic stays
        # on trafficRevisionName if given, else the latest revision gets it.
        state["mode"] = "Single" if database == "postgres" else "Multiple"
        name = f"{state['app']}--{params.get('revisionSuffix') or 'prov' + str(len(revs))}"
        revs[name] = {"weight": 0, "active": True, "image": params["imageName"]}
        if state["mode"] == "Single":
            switch_when_ready(name)
        elif not params.get("trafficRevisionName"):
            for other, rev in revs.items():
                rev["weight"] = 100 if other == name else 0
    done({**outputs, **state.get("deployment_outputs", {})})
vault_secrets = state.setdefault("vault_secrets", {})
if argv[:3] == ["keyvault", "secret", "show"]:
    key = f"{opt('--vault-name')}/{opt('--name')}"
    if key not in vault_secrets:
        done(code=3, err=f"(SecretNotFound) A secret with (name/id) {opt('--name')} was not found in this key vault.")
    done({"name": opt("--name")})
if argv[:3] == ["keyvault", "secret", "set"]:
    # --value would put the secret on argv: the fake accepts only --file.
    if "--value" in argv or not opt("--file"):
        done(code=1, err="fake az: secret value must come from --file")
    vault_secrets[f"{opt('--vault-name')}/{opt('--name')}"] = Path(opt("--file")).read_text()
    done()
if argv[:2] == ["acr", "show"]:
    done(f"{opt('-n')}.azurecr.io")
if argv[:2] in (["acr", "login"], ["acr", "import"]):
    done()
done(code=2, err=f"fake az: unknown command {joined}")
"""

FAKE_RECORDER = r"""
import json, os, sys
from pathlib import Path
log = Path(os.environ["FAKE_LOG"])
line = {"tool": Path(sys.argv[0]).name, "argv": sys.argv[1:]}
if "FAKE_AZ_STATE" in os.environ:  # which revisions run (and could hold the lease) at this moment
    revs = json.loads(Path(os.environ["FAKE_AZ_STATE"]).read_text()).get("revisions", {})
    line["active"] = sorted(n for n, r in revs.items() if r["active"])
    line["weights"] = {n: r["weight"] for n, r in revs.items() if r["weight"]}
with log.open("a") as handle:
    handle.write(json.dumps(line) + "\n")
codes = Path(os.environ["FAKE_GATE_CODES"]) if "FAKE_GATE_CODES" in os.environ else None
if codes and Path(sys.argv[0]).name == "gate":
    remaining = json.loads(codes.read_text())
    code = remaining.pop(0) if len(remaining) > 1 else remaining[0]
    codes.write_text(json.dumps(remaining))
    print(f"fake gate verdict {code}")
    sys.exit(code)
sys.exit(0)
"""


def _write_exe(path: Path, body: str) -> Path:
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@dataclass
class FakeAzure:
    bin_dir: Path
    state_path: Path
    log_path: Path
    tool_log: Path

    @classmethod
    def create(cls, tmp_path: Path, state: dict) -> FakeAzure:
        bin_dir = tmp_path / "fakebin"
        bin_dir.mkdir()
        _write_exe(bin_dir / "az", FAKE_AZ)
        _write_exe(bin_dir / "docker", FAKE_RECORDER)
        _write_exe(bin_dir / "gate", FAKE_RECORDER)
        fake = cls(bin_dir, tmp_path / "az-state.json", tmp_path / "az-calls.jsonl", tmp_path / "tools.jsonl")
        fake.state_path.write_text(json.dumps(state))
        fake.log_path.touch()
        fake.tool_log.touch()
        return fake

    def env(self, gate_codes: list[int] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env['PATH']}"
        env.update(FAKE_AZ_STATE=str(self.state_path), FAKE_AZ_LOG=str(self.log_path), FAKE_LOG=str(self.tool_log))
        if gate_codes is not None:
            codes = self.state_path.parent / "gate-codes.json"
            codes.write_text(json.dumps(gate_codes))
            env["FAKE_GATE_CODES"] = str(codes)
        return env

    def calls(self) -> list[list[str]]:
        return [json.loads(line)["argv"] for line in self.log_path.read_text().splitlines()]

    def entries(self) -> list[dict]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]

    def tool_calls(self, tool: str) -> list[list[str]]:
        return [entry["argv"] for entry in self.tool_entries(tool)]

    def tool_entries(self, tool: str) -> list[dict]:
        lines = [json.loads(line) for line in self.tool_log.read_text().splitlines()]
        return [ln for ln in lines if ln["tool"] == tool]

    def state(self) -> dict:
        return json.loads(self.state_path.read_text())
