# web.cmake: compile the web page (actors/edge/web/) into sluiced.
#
# Two modes in one file, so the list of assets and the generator cannot drift:
#  - include(web.cmake) from actors/edge/CMakeLists.txt: defines SL_EDGE_WEB_C,
#    the generated source to add to sl_edge, and the custom command that
#    regenerates it whenever a page file (or this file) changes;
#  - cmake -DDIR=... -DOUT=... -P web.cmake: writes that source, one byte array
#    per file plus the table sl_edge_assets.c looks paths up in, each with its
#    Content-Type and an ETag taken from the file's SHA-256.
# Like embed.cmake for docs/openapi.yaml: nothing is deployed beside the
# binary, and the page served is always the one in the repository.
set(SL_EDGE_WEB_FILES index.html app.js app.css favicon.svg)

if(NOT CMAKE_SCRIPT_MODE_FILE)
  set(SL_EDGE_WEB_DIR ${CMAKE_CURRENT_LIST_DIR}/web)
  set(SL_EDGE_WEB_C ${CMAKE_CURRENT_BINARY_DIR}/sl_edge_web.c)
  set(deps)
  foreach(f ${SL_EDGE_WEB_FILES})
    list(APPEND deps ${SL_EDGE_WEB_DIR}/${f})
  endforeach()
  add_custom_command(
    OUTPUT ${SL_EDGE_WEB_C}
    COMMAND ${CMAKE_COMMAND} -DDIR=${SL_EDGE_WEB_DIR} -DOUT=${SL_EDGE_WEB_C}
            -P ${CMAKE_CURRENT_LIST_DIR}/web.cmake
    DEPENDS ${deps} ${CMAKE_CURRENT_LIST_FILE}
    COMMENT "Embedding the web page (actors/edge/web)")
  return()
endif()

set(entries "")
set(arrays "")
set(i 0)
foreach(f ${SL_EDGE_WEB_FILES})
  set(path ${DIR}/${f})
  if(NOT EXISTS ${path})
    message(FATAL_ERROR "web.cmake: ${path} is missing")
  endif()
  file(READ ${path} hex HEX)
  file(SHA256 ${path} sha)
  string(SUBSTRING "${sha}" 0 20 etag)
  string(LENGTH "${hex}" len)
  math(EXPR bytes "${len} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
  # 16 bytes a line (CMake's regex has no {n} counts: spell the pattern out)
  string(REPEAT "0x[0-9a-f][0-9a-f]," 16 line)
  string(REGEX REPLACE "(${line})" "\\1\n" body "${body}")
  if(f MATCHES "\\.html$")
    set(ctype "text/html; charset=utf-8")
  elseif(f MATCHES "\\.js$")
    set(ctype "text/javascript; charset=utf-8")
  elseif(f MATCHES "\\.css$")
    set(ctype "text/css; charset=utf-8")
  elseif(f MATCHES "\\.svg$")
    set(ctype "image/svg+xml")
  else()
    message(FATAL_ERROR "web.cmake: no Content-Type known for ${f}")
  endif()
  # index.html is the page at "/"; everything else keeps its name
  if(f STREQUAL "index.html")
    set(url "/")
  else()
    set(url "/${f}")
  endif()
  string(APPEND arrays "/* ${f} */\nstatic const unsigned char s_asset_${i} [] = {\n${body}0x00\n};\n")
  string(APPEND entries "    { \"${url}\", \"${ctype}\", s_asset_${i}, ${bytes}, \"\\\"${etag}\\\"\" },\n")
  math(EXPR i "${i} + 1")
endforeach()

file(WRITE ${OUT} "/* Generated from actors/edge/web by web.cmake: do not edit. */\n"
  "#include \"sl_edge_assets.h\"\n\n${arrays}\n"
  "const sl_edge_asset_t sl_edge_asset_table [] = {\n${entries}    { NULL, NULL, NULL, 0, NULL }\n};\n")
