/* fault.c - CKPT_FAULT lookup for fault.h. */
#define LOG_PREFIX "fault: "
#include "fault.h"

#include "log.h"

#include <stdlib.h>
#include <string.h>

bool proto_fault(const char *point)
{
	const char *list = getenv("CKPT_FAULT");
	size_t len = point ? strlen(point) : 0;
	const char *p = list;

	if (!list || len == 0)
		return false;
	while ((p = strstr(p, point))) {
		bool starts = p == list || p[-1] == ',';
		bool ends = p[len] == '\0' || p[len] == ',';

		if (starts && ends) {
			log_warn("injecting fault \"%s\" (CKPT_FAULT is set)", point);
			return true;
		}
		p += len;
	}
	return false;
}
