"""The bridge service of a compose file runs on a read-only root filesystem.

Reads the normalized output of `docker-compose config` (docker-compose 1.29 or docker compose
v2) on stdin and checks the `bridge` service:

- `read_only: true`;
- its state directory (`--state DIR` in `command`, else `PIPELINE_BRIDGE_STATE_DIR` in
  `environment`) is on a writable named volume: the only place the bridge writes
  (checkpoints.redb, checkpoints.created). A bind mount or tmpfs is refused: tmpfs loses the
  checkpoints on restart (every run in the lookback is exported again), and a host directory
  is not the image's, owned by uid 10001;
- every other mount is read-only, and there is no tmpfs.

Prints `ok   bridge: …` and exits 0, or one `FAIL bridge: …` line per problem and exits 1.
Used by compose/check.sh.
"""

import posixpath
import shlex
import sys

import yaml

SERVICE = "bridge"


def mounts(svc):
    """(type, source, target, read_only) of each mount of the service, in either syntax."""
    out = []
    for v in svc.get("volumes") or []:
        if isinstance(v, dict):  # long syntax (docker compose v2's normalized output)
            out.append((v.get("type", "volume"), v.get("source"), v.get("target"),
                        bool(v.get("read_only"))))
            continue
        parts = str(v).split(":")  # short syntax: [SOURCE:]TARGET[:MODE]
        if len(parts) == 1:
            out.append(("volume", None, parts[0], False))  # anonymous volume
            continue
        source, target = parts[0], parts[1]
        mode = parts[2].split(",") if len(parts) > 2 else []
        kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
        out.append((kind, source, target, "ro" in mode))
    tmpfs = svc.get("tmpfs") or []
    for t in [tmpfs] if isinstance(tmpfs, str) else tmpfs:
        out.append(("tmpfs", None, str(t).split(":")[0], False))
    return out


def state_dir(svc):
    cmd = svc.get("command") or []
    if isinstance(cmd, str):
        cmd = shlex.split(cmd)
    for i, arg in enumerate(cmd):
        if arg == "--state" and i + 1 < len(cmd):
            return cmd[i + 1], "--state"
        if arg.startswith("--state="):
            return arg.split("=", 1)[1], "--state"
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
    if env.get("PIPELINE_BRIDGE_STATE_DIR"):
        return env["PIPELINE_BRIDGE_STATE_DIR"], "PIPELINE_BRIDGE_STATE_DIR"
    return None, None


def under(path, target):
    path, target = posixpath.normpath(path), posixpath.normpath(target)
    return path == target or path.startswith(target.rstrip("/") + "/")


def main():
    config = yaml.safe_load(sys.stdin)
    svc = (config.get("services") or {}).get(SERVICE)
    if svc is None:
        print(f"FAIL {SERVICE}: no such service")
        return 1
    errors = []
    if svc.get("read_only") is not True:
        errors.append("read_only is not true: the root filesystem must be read-only")

    state, origin = state_dir(svc)
    all_mounts = mounts(svc)
    state_mount = None
    if state is None:
        errors.append("no state directory set (--state in command, or PIPELINE_BRIDGE_STATE_DIR)")
    else:
        # The innermost mount holding the state directory is where the checkpoints go.
        holding = [m for m in all_mounts if m[2] and under(state, m[2])]
        state_mount = max(holding, key=lambda m: len(m[2]), default=None)
        if state_mount is None:
            errors.append(f"state directory {state} ({origin}) is on no volume: with a read-only "
                          "root filesystem the bridge cannot write its checkpoints")
        else:
            kind, source, target, ro = state_mount
            if kind != "volume" or not source:
                what = "an anonymous volume" if kind == "volume" else f"a {kind} mount"
                errors.append(f"state directory {state} is on {what} at {target}: it must be a "
                              "named volume (so the checkpoints survive re-creation)")
            elif ro:
                errors.append(f"state directory {state} is on volume {source}, mounted read-only")

    for m in all_mounts:
        if m is state_mount:
            continue
        kind, source, target, ro = m
        if kind == "tmpfs" or not ro:
            errors.append(f"writable {kind} mount at {target}: only the state directory may be "
                          "written (mount it read-only, or drop it)")

    if errors:
        for e in errors:
            print(f"FAIL {SERVICE}: {e}")
        return 1
    others = len(all_mounts) - 1
    print(f"ok   {SERVICE}: read-only root filesystem; state {state} on volume {state_mount[1]}; "
          f"{others} other mount(s), all read-only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
