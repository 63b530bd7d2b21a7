/*
 * weather.h - the labels of weather_protocol. Payloads are protobuf
 * messages from weather.proto.
 */
#ifndef WEATHER_H
#define WEATHER_H

enum {
    WEATHER_REPORT = 1, /* payload: a packed Reading; reply payload: a packed Ack */
};

/* A temperature in hundredths of a degree, written as "-1.05". */
#define CENTI_FMT     "%s%d.%02d"
#define CENTI_ARGS(c) ((c) < 0 ? "-" : ""), abs((int)(c)) / 100, abs((int)(c)) % 100

#endif
