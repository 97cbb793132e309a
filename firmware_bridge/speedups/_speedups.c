/*
 * Stridesync host speed-ups: the two per-frame hot spots of the serial path in C.
 *
 *   split_frames(buffer)  every complete frame of a read buffer: COBS, CRC, and a
 *                         SAMPLES frame's header, as codec.FrameDecoder does it
 *   fill_block(...)       a batch's sample times (index -> MCU clock -> host time)
 *                         and values in units, as device.DeviceSession._block does
 *   ahrs_new(...), ahrs_update(...)
 *                         x-io's Fusion AHRS (fusion/, MIT, vendored from imufusion
 *                         1.3.3) fed a whole batch a call, the gravity direction
 *                         after each sample out: what imufusion does one call a sample
 *
 * The Python modules they stand in for stay the reference: the same results to the
 * bit (no fused multiply-add: built with -ffp-contract=off; the same operations in
 * the same order as numpy's), checked by tests/test_speedups.py. Built on the machine
 * that runs it, as Klipper's chelper is (firmware_bridge/speedups/__init__.py); where
 * no compiler is, the service runs the Python path and says so at start.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "fusion/FusionAhrs.h"

#define PROTOCOL_VERSION 1
#define MSG_SAMPLES 0x02
#define MAX_BODY_BYTES 1024
#define HEADER_BYTES 2   /* version, type */
#define CRC_BYTES 2
#define SAMPLES_HEAD 12  /* stream u8, first u32, overflow u16, clock u32, n u8 */

static uint16_t crc_table[256];

static void crc_init(void)
{
    for (int b = 0; b < 256; b++) {
        uint16_t crc = (uint16_t)(b << 8);
        for (int i = 0; i < 8; i++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
        crc_table[b] = crc;
    }
}

/* CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF), as binascii.crc_hqx(data, 0xFFFF). */
static uint16_t crc16_ccitt_false(const uint8_t *p, size_t n)
{
    uint16_t crc = 0xFFFF;
    while (n--)
        crc = (uint16_t)(crc << 8) ^ crc_table[(crc >> 8) ^ *p++];
    return crc;
}

/* COBS-decode src[0..n) (no delimiter) into dst (capacity cap); -1 when malformed,
 * as the `cobs` package's decode rejects it: a zero byte inside, or a code that runs
 * past the end. */
static Py_ssize_t cobs_decode(const uint8_t *src, Py_ssize_t n, uint8_t *dst, Py_ssize_t cap)
{
    Py_ssize_t in = 0, out = 0;
    while (in < n) {
        uint8_t code = src[in++];
        if (code == 0)
            return -1;
        Py_ssize_t run = code - 1;
        if (in + run > n)
            return -1;
        if (out + run > cap)
            return -1;
        for (Py_ssize_t i = 0; i < run; i++) {
            if (src[in + i] == 0)
                return -1;
            dst[out++] = src[in + i];
        }
        in += run;
        if (code != 0xFF && in < n) {
            if (out >= cap)
                return -1;
            dst[out++] = 0;
        }
    }
    return out;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

enum { GOOD, MALFORMED, BAD_CRC, UNSUPPORTED };

/* COBS, length, CRC and version of one chunk, decoded into dst (room for n bytes):
 * GOOD with the body's length in *m, or why not. */
static int check_body(const uint8_t *chunk, Py_ssize_t n, uint8_t *dst, Py_ssize_t *m,
                      long *newest)
{
    *m = cobs_decode(chunk, n, dst, n);
    if (*m < HEADER_BYTES + CRC_BYTES)
        return MALFORMED;
    uint16_t crc = (uint16_t)(dst[*m - 2] | dst[*m - 1] << 8);
    if (crc16_ccitt_false(dst, (size_t)(*m - CRC_BYTES)) != crc)
        return BAD_CRC;
    if (dst[0] != PROTOCOL_VERSION) {
        *newest = dst[0];
        return UNSUPPORTED;
    }
    return GOOD;
}

/* One good body as an item: a SAMPLES frame's (stream_id, first, overflow, clock, n,
 * data), any other frame's (body without the CRC, encoded length); NULL with
 * *malformed set for a SAMPLES payload that does not parse (or NULL on an error). */
static PyObject *item_of(const uint8_t *body, Py_ssize_t m, Py_ssize_t encoded, int *malformed)
{
    Py_ssize_t payload = m - CRC_BYTES - HEADER_BYTES;
    if (body[1] != MSG_SAMPLES)
        return Py_BuildValue("(y#n)", (const char *)body, m - CRC_BYTES, encoded);
    const uint8_t *p = body + HEADER_BYTES;
    Py_ssize_t data_len = payload - SAMPLES_HEAD;
    unsigned n_samples = payload >= SAMPLES_HEAD ? p[11] : 0;
    if (payload < SAMPLES_HEAD || n_samples == 0 || data_len % n_samples) {
        *malformed = 1;
        return NULL;
    }
    return Py_BuildValue("(BkHkIy#)", p[0], (unsigned long)le32(p + 1),
                         (unsigned short)(p[5] | p[6] << 8), (unsigned long)le32(p + 7),
                         n_samples, (const char *)(p + SAMPLES_HEAD), data_len);
}

/* split_frames(buffer) -> (consumed, items, (sample_frames, crc_errors, malformed,
 *                          unsupported_version, newest_unsupported, dropped_bytes))
 * Every chunk up to the last delimiter; items as item_of gives them. */
static PyObject *split_frames(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const uint8_t *buf = view.buf;
    Py_ssize_t len = view.len, start = 0;
    long samples = 0, crc_errors = 0, malformed = 0, unsupported = 0, newest = -1;
    long long dropped = 0;
    uint8_t small[MAX_BODY_BYTES + 8];
    PyObject *items = PyList_New(0);
    if (items == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < len; i++) {
        if (buf[i] != 0)
            continue;
        Py_ssize_t n = i - start, m;
        const uint8_t *chunk = buf + start;
        start = i + 1;
        if (n == 0) { /* a stray delimiter */
            dropped += 1;
            continue;
        }
        /* A chunk longer than any frame (a read that held an over-long run and its
         * delimiter) is decoded all the same, as the Python decoder does. */
        uint8_t *body = n > (Py_ssize_t)sizeof(small) ? PyMem_Malloc((size_t)n) : small;
        if (body == NULL) {
            PyErr_NoMemory();
            goto fail;
        }
        int status = check_body(chunk, n, body, &m, &newest), bad = 0;
        PyObject *item = status == GOOD ? item_of(body, m, n, &bad) : NULL;
        if (body != small)
            PyMem_Free(body);
        if (status != GOOD || bad) {
            crc_errors += status == BAD_CRC, unsupported += status == UNSUPPORTED;
            malformed += status == MALFORMED || bad, dropped += n + 1;
            continue;
        }
        if (item == NULL || PyList_Append(items, item) < 0) {
            Py_XDECREF(item);
            goto fail;
        }
        samples += PyTuple_GET_SIZE(item) == 6;
        Py_DECREF(item);
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(nN(lllllL))", start, items, samples, crc_errors, malformed,
                         unsupported, newest, dropped);
fail:
    Py_XDECREF(items);
    PyBuffer_Release(&view);
    return NULL;
}

static int writable(PyObject *o, Py_buffer *v, Py_ssize_t doubles, const char *what)
{
    if (PyObject_GetBuffer(o, v, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (v->len != doubles * (Py_ssize_t)sizeof(double)) {
        PyBuffer_Release(v);
        PyErr_Format(PyExc_ValueError, "%s: need %zd float64 values", what, doubles);
        return -1;
    }
    return 0;
}

/* fill_block(data, n, itemsize, scale, offset, first, x_avg, y_avg, slope, t0, c0, freq,
 *            time_out, values_out)
 * time_out[i] = t0 + ((y_avg + slope * ((double)(first + i) - x_avg)) - c0) / freq
 * values_out[i, c] = (double)raw[i, c] * scale[c] + offset[c]   (raw: little-endian int) */
static PyObject *fill_block(PyObject *self, PyObject *args)
{
    Py_buffer data, scale, offset, t_out, v_out;
    Py_ssize_t n, itemsize;
    long long first;
    double x_avg, y_avg, slope, t0, c0, freq;
    PyObject *t_obj, *v_obj;
    if (!PyArg_ParseTuple(args, "y*nny*y*LddddddOO", &data, &n, &itemsize, &scale, &offset,
                          &first, &x_avg, &y_avg, &slope, &t0, &c0, &freq, &t_obj, &v_obj))
        return NULL;
    Py_ssize_t n_ch = scale.len / (Py_ssize_t)sizeof(double);
    PyObject *result = NULL;
    int have_t = 0, have_v = 0;
    if ((itemsize != 2 && itemsize != 4) || n <= 0 || offset.len != scale.len
        || data.len != n * n_ch * itemsize) {
        PyErr_SetString(PyExc_ValueError, "fill_block: sizes do not agree");
        goto done;
    }
    if (writable(t_obj, &t_out, n, "time_out") < 0)
        goto done;
    have_t = 1;
    if (writable(v_obj, &v_out, n * n_ch, "values_out") < 0)
        goto done;
    have_v = 1;
    const double *sc = scale.buf, *of = offset.buf;
    double *t = t_out.buf, *v = v_out.buf;
    const uint8_t *raw = data.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        double x = (double)(first + i);
        double mcu = y_avg + slope * (x - x_avg);
        t[i] = t0 + (mcu - c0) / freq;
    }
    for (Py_ssize_t k = 0; k < n * n_ch; k++) {
        const uint8_t *p = raw + k * itemsize;
        double r = itemsize == 2 ? (double)(int16_t)(p[0] | p[1] << 8) : (double)(int32_t)le32(p);
        v[k] = r * sc[k % n_ch] + of[k % n_ch];
    }
    result = Py_NewRef(Py_None);
done:
    if (have_v)
        PyBuffer_Release(&v_out);
    if (have_t)
        PyBuffer_Release(&t_out);
    PyBuffer_Release(&data);
    PyBuffer_Release(&scale);
    PyBuffer_Release(&offset);
    return result;
}

/* ahrs_new(sample_rate, convention, gain, gyroscope_range, acceleration_rejection,
 *          magnetic_rejection, rejection_timeout, sample_period) -> bytearray
 * A FusionAhrs in a bytearray, set up as imufusion's Ahrs().set_settings(...)
 * .set_sample_period(...) sets it up (each number taken to float as imufusion does). */
static PyObject *ahrs_new(PyObject *self, PyObject *args)
{
    double rate, gain, gyro_range, accel_rejection, mag_rejection, timeout, period;
    int convention;
    if (!PyArg_ParseTuple(args, "didddddd", &rate, &convention, &gain, &gyro_range,
                          &accel_rejection, &mag_rejection, &timeout, &period))
        return NULL;
    PyObject *state = PyByteArray_FromStringAndSize(NULL, sizeof(FusionAhrs));
    if (state == NULL)
        return NULL;
    FusionAhrs *ahrs = (FusionAhrs *)PyByteArray_AS_STRING(state);
    FusionAhrsInitialise(ahrs);
    const FusionAhrsSettings settings = {
        .sampleRate = (float)rate,
        .convention = (FusionConvention)convention,
        .gain = (float)gain,
        .gyroscopeRange = (float)gyro_range,
        .accelerationRejection = (float)accel_rejection,
        .magneticRejection = (float)mag_rejection,
        .rejectionTimeout = (float)timeout,
    };
    FusionAhrsSetSettings(ahrs, &settings);
    FusionAhrsSetSamplePeriod(ahrs, (float)period);
    return state;
}

/* ahrs_update(state, gyroscope, accelerometer, gravity_out): float32 buffers of n
 * rows of x, y, z (deg/s; g); each row through FusionAhrsUpdateNoMagnetometer, and
 * FusionAhrsGetGravity after it into gravity_out's row. */
static PyObject *ahrs_update(PyObject *self, PyObject *args)
{
    PyObject *state;
    Py_buffer gyro, accel, out;
    if (!PyArg_ParseTuple(args, "Oy*y*w*", &state, &gyro, &accel, &out))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t row = 3 * sizeof(float);
    if (!PyByteArray_Check(state) || PyByteArray_GET_SIZE(state) != sizeof(FusionAhrs)) {
        PyErr_SetString(PyExc_TypeError, "state: not an ahrs_new() state");
    } else if (gyro.len % row || accel.len != gyro.len || out.len != gyro.len) {
        PyErr_SetString(PyExc_ValueError, "gyroscope, accelerometer, out: n x 3 float32 each");
    } else {
        FusionAhrs *ahrs = (FusionAhrs *)PyByteArray_AS_STRING(state);
        const float *g = gyro.buf, *a = accel.buf;
        float *o = out.buf;
        for (Py_ssize_t i = 0, n = gyro.len / row; i < n; i++, g += 3, a += 3, o += 3) {
            FusionVector gv, av;
            memcpy(gv.array, g, row);
            memcpy(av.array, a, row);
            FusionAhrsUpdateNoMagnetometer(ahrs, gv, av);
            const FusionVector down = FusionAhrsGetGravity(ahrs);
            memcpy(o, down.array, row);
        }
        result = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&gyro);
    PyBuffer_Release(&accel);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"split_frames", split_frames, METH_O, "Every complete frame of a read buffer."},
    {"fill_block", fill_block, METH_VARARGS, "A sample batch's host times and values."},
    {"ahrs_new", ahrs_new, METH_VARARGS, "A Fusion AHRS state, set up."},
    {"ahrs_update", ahrs_update, METH_VARARGS, "Fusion AHRS over a batch: gravity out."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups", NULL, -1, methods};

PyMODINIT_FUNC PyInit__speedups(void)
{
    crc_init();
    return PyModule_Create(&module);
}
