# precision.cmake: embed.precision (fp32 | auto | bf16) over real sluiced
# processes on the use model (tests/test_precision.py, one ctest per
# behaviour; they skip without the model, the bf16 ones without the CPU
# unit). Included from tests/CMakeLists.txt.
sl_pytest(test_precision.py precision
  unknown_precision_refused bf16_refused_without_cpu_unit bf16_refused_for_hash
  default_is_fp32 auto_without_cpu_unit_is_fp32 auto_picks_bf16_where_it_agrees precision_switch_refused_then_reembedded)
