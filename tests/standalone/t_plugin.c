/* t_plugin.c - a library t_dlopen loads with dlopen(); keeps state of its
 * own in its .data/.bss so a restart must bring the library back intact. */
#include <stdint.h>

#ifndef PLUGIN_SEED
#define PLUGIN_SEED 17
#endif

static uint64_t plugin_state = PLUGIN_SEED;
static uint64_t plugin_calls;

uint64_t plugin_step(uint64_t x)
{
	plugin_calls++;
	plugin_state = plugin_state * 1103515245ull + x + plugin_calls;
	return plugin_state;
}

uint64_t plugin_calls_count(void)
{
	return plugin_calls;
}
