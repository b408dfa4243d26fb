/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config/vlg-error.h"

G_DEFINE_QUARK(vlg-error-quark, vlg_error)
