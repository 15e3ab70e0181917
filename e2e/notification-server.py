#!/usr/bin/python3
"""A small desktop notification server for the end-to-end tests: owns
org.freedesktop.Notifications on the session bus (run the test under dbus-run-session), prints
each Notify call as one JSON line on stdout, and clicks a notification when told `click ID` on
stdin (the ActionInvoked signal with the default action, as a desktop does on a click).

Needs Debian's python3-dbus and python3-gi (scripts/install-deps test)."""

import json
import sys

import dbus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"


class Server(dbus.service.Object):
    def __init__(self, bus):
        super().__init__(bus, PATH)
        self.next_id = 1

    @dbus.service.method(NAME, in_signature="", out_signature="as")
    def GetCapabilities(self):
        return ["body", "actions"]

    @dbus.service.method(NAME, in_signature="", out_signature="ssss")
    def GetServerInformation(self):
        return ("clima-test", "clima", "1", "1.2")

    @dbus.service.method(NAME, in_signature="susssasa{sv}i", out_signature="u")
    def Notify(self, app_name, replaces_id, icon, summary, body, actions, hints, timeout):
        nid = int(replaces_id) or self.next_id
        self.next_id = max(self.next_id, nid) + 1
        print(
            json.dumps(
                {
                    "id": nid,
                    "app_name": str(app_name),
                    "summary": str(summary),
                    "body": str(body),
                    "actions": [str(a) for a in actions],
                }
            ),
            flush=True,
        )
        return dbus.UInt32(nid)

    @dbus.service.method(NAME, in_signature="u", out_signature="")
    def CloseNotification(self, nid):
        self.NotificationClosed(nid, dbus.UInt32(3))

    @dbus.service.signal(NAME, signature="us")
    def ActionInvoked(self, nid, action):
        pass

    @dbus.service.signal(NAME, signature="uu")
    def NotificationClosed(self, nid, reason):
        pass


def main():
    DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    name = dbus.service.BusName(NAME, bus, do_not_queue=True)
    server = Server(bus)
    loop = GLib.MainLoop()

    def on_stdin(source, condition):
        line = sys.stdin.readline()
        if not line:
            loop.quit()
            return False
        parts = line.split()
        if len(parts) == 2 and parts[0] == "click":
            nid = dbus.UInt32(int(parts[1]))
            server.ActionInvoked(nid, "default")
            # Dismissed by the click (reason 2), as a desktop does.
            server.NotificationClosed(nid, dbus.UInt32(2))
        return True

    GLib.io_add_watch(sys.stdin, GLib.IO_IN | GLib.IO_HUP, on_stdin)
    print(json.dumps({"ready": name.get_name()}), flush=True)
    loop.run()


if __name__ == "__main__":
    main()
