/* SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Shared by the libFuzzer targets: the fuzz input as a C string, and a log
 * writer that drops the warnings hostile input is expected to cause but turns
 * a critical (a failed g_return_if_fail, a programming error) into a crash.
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static GLogWriterOutput
wv_fuzz_log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) {
    g_log_writer_standard_streams(level, fields, n_fields, data);
    abort();
  }
  return G_LOG_WRITER_HANDLED;
}

static inline void
wv_fuzz_init_logging(void)
{
  g_log_set_writer_func(wv_fuzz_log_writer, NULL, NULL);
}

/* Aborts, so libFuzzer saves the input, when @cond does not hold. */
#define wv_fuzz_assert(cond)                                                                       \
  G_STMT_START                                                                                     \
  {                                                                                                \
    if (!(cond)) {                                                                                 \
      g_printerr("%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);                      \
      abort();                                                                                     \
    }                                                                                              \
  }                                                                                                \
  G_STMT_END
