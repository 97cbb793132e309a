/* IMU node: an ICM-42688-P on a shank, 1 kHz, +-2000 deg/s and +-16 g, read from
 * its FIFO on the watermark interrupt (every 10 samples).
 *
 * Mounting (docs/hardware.md): the board on the lateral side of the shank, the
 * chip's x axis pointing down the shank, its z axis outwards. The segment frame
 * of docs/protocol.md is then, on the right leg, x = chip y, y = chip z,
 * z = chip x, and on the left leg x = -chip y, y = -chip z, z = chip x: the HELLO
 * carries the signs in its scales, the node only reorders. */
#include "../boards/stm32f4/bsp.h"
#include "../drivers/icm42688.h"
#include "node.h"

#ifndef IMU_SIDE_RIGHT
#define PLACEMENT SS_PLACE_SHANK_LEFT
#define NAME "shank-left"
#define SIDE (-1.0f)
#else
#define PLACEMENT SS_PLACE_SHANK_RIGHT
#define NAME "shank-right"
#define SIDE (1.0f)
#endif

#define WATERMARK 10u
#define G ICM42688_GYRO_DPS_PER_LSB
#define A ICM42688_ACCEL_MS2_PER_LSB

static const ss_channel_t channels[6] = {
    {SS_CH_GX, SS_UNIT_DEG_PER_S, SIDE * G, 0}, {SS_CH_GY, SS_UNIT_DEG_PER_S, SIDE * G, 0},
    {SS_CH_GZ, SS_UNIT_DEG_PER_S, G, 0},        {SS_CH_AX, SS_UNIT_M_PER_S2, SIDE * A, 0},
    {SS_CH_AY, SS_UNIT_M_PER_S2, SIDE * A, 0},  {SS_CH_AZ, SS_UNIT_M_PER_S2, A, 0},
};
/* Segment channel k comes from the chip's value CHIP_OF[k] (ax ay az gx gy gz). */
static const uint8_t CHIP_OF[6] = {4, 5, 3, 1, 2, 0};
static const ss_stream_t streams[1] = {
    {0, SS_IMU_6AXIS, PLACEMENT, 0, 1000000u, SS_FORMAT_INT16, 6, channels},
};
static ss_hello_t hello = {0, {SS_FIRMWARE_MAJOR, SS_FIRMWARE_MINOR, SS_FIRMWARE_PATCH}, NAME, 1, streams};
ss_node_t node = {.hello = &hello, .period_us = ICM42688_PERIOD_US, .batch_size = 10,
                  .write = bsp_uart_write, .now_us = bsp_now_us};
static icm42688_t imu;

int node_sensor_init(void)
{
    hello.device_id = bsp_device_id();
    return icm42688_init(&imu, bsp_sensor_bus(), WATERMARK);
}

void node_sensor_irq(uint32_t edge_us)
{
    static int16_t chip[ICM42688_MAX_PACKETS][6];
    static int32_t raw[ICM42688_MAX_PACKETS * 6];
    int full, n = icm42688_read_fifo(&imu, chip, ICM42688_MAX_PACKETS, &full), i, k;
    if (full) {
        ss_node_chip_lost(&node);
        return;
    }
    for (i = 0; i < n; i++)
        for (k = 0; k < 6; k++)
            raw[i * 6 + k] = chip[i][CHIP_OF[k]];
    /* The watermark's edge is the instant of the WATERMARK-th sample in the FIFO. */
    ss_node_samples(&node, ss_node_first_stamp(&node, edge_us, n < (int)WATERMARK ? (unsigned)n : WATERMARK),
                    raw, (unsigned)n);
}
