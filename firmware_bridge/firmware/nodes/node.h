/* What a node program (imu_node.c, force_node.c) gives the common main loop. */
#ifndef SS_NODE_PROGRAM_H
#define SS_NODE_PROGRAM_H

#include <stdint.h>

#include "../core/ss_node.h"

extern ss_node_t node;
/* Configure the chip; 0 when it answered as it should. */
int node_sensor_init(void);
/* The chip's interrupt fired at edge_us: read what it has. */
void node_sensor_irq(uint32_t edge_us);

#endif
