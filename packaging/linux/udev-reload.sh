#!/bin/sh
# After the udev rule for serial boards is installed or removed: apply it to boards already
# plugged in. Without a running udev (a container, a chroot) there is nothing to do.
if [ -S /run/udev/control ] && command -v udevadm >/dev/null 2>&1; then
  udevadm control --reload-rules || true
  udevadm trigger --subsystem-match=tty --action=change || true
fi
exit 0
