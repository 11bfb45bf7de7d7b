#!/usr/bin/python3
"""ssh and scp as deploy/vm/rolling-upgrade.py calls them, for the namespaces of
vm_rehearsal.py: `vm_remote.py ssh root@ADDRESS COMMAND` runs COMMAND in that VM, except a
trailing `systemctl restart quorumd`, which the rehearsal does as systemd would (it owns the
members' processes) when asked on its control socket; `vm_remote.py scp FILE root@ADDRESS:PATH`
copies FILE into the VM.

Environment: QUORUM_REHEARSAL_VMS ("ADDRESS=VM:NETNS:MOUNT_NS_FILE,..."),
QUORUM_REHEARSAL_CONTROL (the control socket).
"""
import os
import socket
import subprocess
import sys

RESTART = "systemctl restart quorumd"


def main():
    vms = {}
    for item in os.environ["QUORUM_REHEARSAL_VMS"].split(","):
        address, rest = item.split("=", 1)
        vms[address] = rest.split(":")
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "scp":
        source, target = args[-2], args[-1]
        address, path = target.split("@", 1)[1].split(":", 1)
        vm, netns, mount = vms[address]
        return subprocess.run(["nsenter", f"--net=/run/netns/{netns}", f"--mount={mount}", "--",
                               "cp", source, path]).returncode
    address = args[0].split("@", 1)[1]
    vm, netns, mount = vms[address]
    command = " ".join(args[1:]).strip()
    restart = command.endswith(RESTART)
    if restart:
        command = command[: -len(RESTART)].strip()
        if command.endswith("&&"):
            command = command[:-2].strip()
    if command:
        rc = subprocess.run(["nsenter", f"--net=/run/netns/{netns}", f"--mount={mount}", "--",
                             "sh", "-c", command]).returncode
        if rc != 0:
            return rc
    if restart:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(120)
            s.connect(os.environ["QUORUM_REHEARSAL_CONTROL"])
            s.sendall(f"restart {vm}\n".encode())
            answer = s.recv(100).decode().strip()
        if answer != "ok":
            print(f"restart of {vm}: {answer}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
