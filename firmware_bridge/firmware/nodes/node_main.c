/* The main loop every node shares: commands in, samples on each sensor
 * interrupt, frames out, sleep. Nothing in it waits for the host. */
#include "../boards/stm32f4/bsp.h"
#include "node.h"

int main(void)
{
    uint32_t edge_us;
    int byte;
    bsp_init();
    node.sensor_ok = node_sensor_init() == 0;
    ss_node_boot(&node);
    for (;;) {
        while ((byte = bsp_uart_read()) >= 0)
            ss_node_rx(&node, (uint8_t)byte);
        while (bsp_sensor_irq(&edge_us))
            node_sensor_irq(edge_us);
        bsp_uart_pump();
        bsp_idle();
    }
}
