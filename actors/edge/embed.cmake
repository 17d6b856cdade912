# embed.cmake: turn a text file into a C array (cmake -DIN=... -DOUT=... -P).
# Used for docs/openapi.yaml so the served API description can never drift
# from the one in the repository, and nothing is deployed beside the binary.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" len)
math(EXPR bytes "${len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n" body "${body}")
file(WRITE ${OUT} "/* Generated from ${IN} by embed.cmake: do not edit. */\n"
  "const char sl_edge_openapi [] = {\n${body}0x00\n};\n"
  "const unsigned long sl_edge_openapi_len = ${bytes};\n")
