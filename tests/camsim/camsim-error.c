/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "tests/camsim/camsim-error.h"

GQuark
vlg_camsim_error_quark(void)
{
	return g_quark_from_static_string("vlg-camsim-error-quark");
}
