/*
 * The transports a worker can speak, by the name CONFIG gives.
 */
#include <string.h>

#include "transport.h"

static const struct transport_ops *const transports[] = {
	&transport_streamable_http,
};

const struct transport_ops *
transport_find(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof(transports) / sizeof(*transports); i++)
		if (strcmp(transports[i]->name, name) == 0)
			return (transports[i]);
	return (NULL);
}
