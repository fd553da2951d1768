/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * How a VM's last stop ended, in words: the VM property LastStop
 * (how, ACPI presses, seconds) as the daemon logs it and winvmctl prints it.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* @how: "agent", "acpi", "off", "saved", "destroyed", "overtaken", "failed";
 * "" (no stop yet) gives "". */
char *wv_last_stop_describe(const char *how, guint presses, double seconds);

G_END_DECLS
