/* Force node: an ADS131M04 reading a force plate's three analog outputs
 * (fx, fy, fz) at 1 kSPS, one frame per /DRDY.
 *
 * The calibration (volts to newtons, and the zero) is the plate's, set below and
 * sent in the HELLO's per-channel scale and offset: the host does the maths.
 * Defaults: a plate amplifier whose +-10 V outputs reach the ADC through a 10:1
 * divider (+-1 V, PGA gain 1) at 500 N/V (fx, fy) and 1000 N/V (fz) at the
 * amplifier, i.e. 5000 and 10000 N per volt at the ADC. The do-it-yourself plate
 * of docs/hardware.md (four load cells summed in a junction box, on channel 2 at
 * gain 128) is FORCE_DIY_PLATE. */
#include "../boards/stm32f4/bsp.h"
#include "../drivers/ads131m04.h"
#include "node.h"

#ifdef FORCE_DIY_PLATE
/* 4 x 200 kg cells at 2 mV/V on 3.3 V: 7845 N give 6.6 mV. fx, fy read nothing. */
static const uint8_t GAIN_CODE[4] = {7, 7, 7, 0};
static const float NEWTON_PER_VOLT[3] = {0.0f, 0.0f, 7845.0f / 0.0066f};
#else
static const uint8_t GAIN_CODE[4] = {0, 0, 0, 0};
static const float NEWTON_PER_VOLT[3] = {5000.0f, 5000.0f, 10000.0f};
#endif
static const float ZERO_VOLTS[3] = {0.0f, 0.0f, 0.0f};

static ss_channel_t channels[3] = {
    {SS_CH_FX, SS_UNIT_N, 0, 0}, {SS_CH_FY, SS_UNIT_N, 0, 0}, {SS_CH_FZ, SS_UNIT_N, 0, 0},
};
static const ss_stream_t streams[1] = {
    {0, SS_FORCE_3AXIS, SS_PLACE_FORCE_PLATE, 0, 1000000u, SS_FORMAT_INT32, 3, channels},
};
static ss_hello_t hello = {0, {SS_FIRMWARE_MAJOR, SS_FIRMWARE_MINOR, SS_FIRMWARE_PATCH}, "plate-0", 1, streams};
ss_node_t node = {.hello = &hello, .period_us = ADS131M04_PERIOD_US, .batch_size = 10,
                  .write = bsp_uart_write, .now_us = bsp_now_us};
static ads131m04_t adc;

int node_sensor_init(void)
{
    int k;
    hello.device_id = bsp_device_id();
    for (k = 0; k < 3; k++) {
        channels[k].scale = ads131m04_volts_per_code(GAIN_CODE[k]) * NEWTON_PER_VOLT[k];
        channels[k].offset = -ZERO_VOLTS[k] * NEWTON_PER_VOLT[k];
    }
    return ads131m04_init(&adc, bsp_sensor_bus(), GAIN_CODE);
}

void node_sensor_irq(uint32_t edge_us)
{
    int32_t codes[4];
    if (ads131m04_read(&adc, codes) != ADS131M04_OK)
        return; /* a corrupt frame: the gap is counted with the next good one */
    ss_node_samples(&node, edge_us, codes, 1);
}
