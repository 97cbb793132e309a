// Thin example: a shank IMU on an Arduino-class board, 1 kHz, 10 samples a frame.
// The protocol core (stridesync_proto.c/.h) has no Arduino headers; copy both
// files next to this sketch. read_imu() is yours: fill six int16 values in the
// segment frame of docs/protocol.md (gyro 2000 deg/s full scale, accel 16 g).
#include "stridesync_proto.h"

static const ss_channel_t channels[] = {
    {SS_CH_GX, SS_UNIT_DEG_PER_S, 2000.0f / 32767, 0}, {SS_CH_GY, SS_UNIT_DEG_PER_S, 2000.0f / 32767, 0},
    {SS_CH_GZ, SS_UNIT_DEG_PER_S, 2000.0f / 32767, 0}, {SS_CH_AX, SS_UNIT_M_PER_S2, 16 * 9.80665f / 32767, 0},
    {SS_CH_AY, SS_UNIT_M_PER_S2, 16 * 9.80665f / 32767, 0}, {SS_CH_AZ, SS_UNIT_M_PER_S2, 16 * 9.80665f / 32767, 0},
};
static const ss_stream_t streams[] = {
    {0, SS_IMU_6AXIS, SS_PLACE_SHANK_LEFT, 0, 1000000u, SS_FORMAT_INT16, 6, channels},
};

#define BATCH 10
static int16_t batch[BATCH * 6];
static uint8_t frame[SS_FRAME_CAPACITY(256)];
static uint32_t sample_index, batch_stamp;
static uint16_t overflow;
static bool streaming;
static ss_cmd_decoder_t decoder;

extern void read_imu(int16_t out[6]);  // your sensor driver

static uint64_t device_id() { return 0x5353000000000002ull; }  // use the chip's unique id

static void send(size_t n) {
  if (n == 0) return;
  if ((size_t)Serial.availableForWrite() < n) { overflow += BATCH; return; }  // never block the sampler
  Serial.write(frame, n);
}

static void hello() {
  ss_hello_t h = {device_id(), {1, 0, 0}, "shank-left", 1, streams};
  send(ss_frame_hello(&h, frame, sizeof frame));
}

void setup() {
  Serial.begin(921600);
  ss_cmd_decoder_init(&decoder);
  hello();  // announce the (re)boot
}

void loop() {
  static uint32_t next_us = micros();
  ss_command_t cmd;
  while (Serial.available()) {
    if (!ss_cmd_decoder_feed(&decoder, (uint8_t)Serial.read(), &cmd)) continue;
    if (cmd.type == SS_CMD_CLOCK_QUERY) send(ss_frame_clock(cmd.token, micros(), frame, sizeof frame));
    else if (cmd.type == SS_CMD_IDENTIFY) hello();
    else {
      if (cmd.type == SS_CMD_START) streaming = true;
      if (cmd.type == SS_CMD_STOP) streaming = false;
      send(ss_frame_ack(cmd.type, cmd.token, SS_ACK_OK, frame, sizeof frame));
    }
  }
  if ((int32_t)(micros() - next_us) < 0) return;
  uint32_t now = next_us;
  next_us += 1000;  // 1 kHz from the MCU clock
  if (!streaming) return;
  uint32_t k = sample_index++ % BATCH;
  if (k == 0) batch_stamp = now;
  read_imu(&batch[k * 6]);
  if (k == BATCH - 1)
    send(ss_frame_samples_i16(0, sample_index - BATCH, overflow, batch_stamp, BATCH, 6, batch, frame, sizeof frame));
}
