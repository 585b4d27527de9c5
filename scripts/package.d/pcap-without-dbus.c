/*
 * Linked into the release binary with Debian's static libpcap (libpcap.a), which carries
 * libpcap's D-Bus capture module (pcap-dbus.o, devices "dbus-system", "dbus-session" and
 * "dbus://ADDRESS") and so needs libdbus-1, which in turn needs libsystemd. lanekeeper
 * captures network interfaces only, so rather than link two more libraries for a capture
 * source it never opens, these definitions stand in for the 17 libdbus functions libpcap
 * calls: opening a D-Bus "device" fails with a message, as if the bus could not be
 * reached, and nothing else can be reached (every other function needs an open connection).
 * scripts/package compiles this file; the development build links the shared libpcap and
 * never sees it.
 */
#include <stddef.h>
#include <stdlib.h>

/* The leading fields of libdbus's public DBusError (dbus/dbus-errors.h): libpcap reads
 * `message` after a failed dbus_bus_get or dbus_connection_open and then frees the error. */
typedef struct {
    const char *name;
    const char *message;
} lanekeeper_dbus_error;

static const char unsupported[] = "D-Bus capture is not built into lanekeeper";

static void *refuse(void *error) {
    if (error != NULL) {
        ((lanekeeper_dbus_error *)error)->name = "org.freedesktop.DBus.Error.NotSupported";
        ((lanekeeper_dbus_error *)error)->message = unsupported;
    }
    return NULL;
}

void *dbus_bus_get(int type, void *error) { (void)type; return refuse(error); }
void *dbus_connection_open(const char *address, void *error) { (void)address; return refuse(error); }
void dbus_error_free(void *error) { (void)error; }
int dbus_error_is_set(const void *error) {
    return error != NULL && ((const lanekeeper_dbus_error *)error)->name != NULL;
}

/* Reachable only with a connection, which the two functions above never give. */
#define UNREACHABLE(name) void name(void) { abort(); }
UNREACHABLE(dbus_bus_add_match)
UNREACHABLE(dbus_bus_register)
UNREACHABLE(dbus_connection_flush)
UNREACHABLE(dbus_connection_pop_message)
UNREACHABLE(dbus_connection_read_write)
UNREACHABLE(dbus_connection_send)
UNREACHABLE(dbus_connection_set_max_received_size)
UNREACHABLE(dbus_connection_unref)
UNREACHABLE(dbus_free)
UNREACHABLE(dbus_message_demarshal)
UNREACHABLE(dbus_message_is_signal)
UNREACHABLE(dbus_message_marshal)
UNREACHABLE(dbus_message_unref)
