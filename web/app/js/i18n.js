// Chinese by default, English on request; the choice is remembered in localStorage.
// `t(key, vars)` fills `{name}` placeholders; a missing key shows itself, so it is noticed.

const zh = {
  app_title: 'gridmap 网格化管理',
  username: '用户名', password: '密码', sign_in: '登录', sign_out: '退出',
  lang_other: 'English',
  login_failed: '登录失败：{msg}',
  tab_map: '网格编辑', tab_coverage: '走访覆盖', tab_dashboard: '进度统计', tab_plans: '网格方案',
  tab_reviews: '申报审核',
  reviews_title: '自主申报审核', reviews_hint: '居民扫描二维码门牌申报的住户信息，核实后确认登记；驳回的申报将被删除，不保留任何信息。',
  reviews_none: '没有待审核的申报。', reviews_confirm: '核实无误，确认登记', reviews_reject: '驳回（删除）',
  reviews_reject_confirm: '确定驳回此申报吗？申报信息将被删除。', reviews_confirmed: '已登记 {n} 人。', reviews_rejected: '已驳回并删除。',
  plates_title: '打印门牌', plates_print: '打印门牌', plates_base: '扫码访问地址', plates_printed: '已生成 {grid} 的门牌 PDF。',
  role_admin: '管理员', role_town_supervisor: '镇督导', role_village_manager: '村（社区）管理员',
  role_grid_leader: '网格长', role_grid_worker: '网格员', role_planner: '规划员',
  loading: '加载中…',
  // editor
  grids_in_scope: '我的网格', grid: '网格', village: '村（社区）', version: '版本',
  edit_shape: '编辑边界', draw_new: '绘制新网格', new_code: '新网格编码', cancel: '取消',
  undo: '撤销', save: '保存', reason: '修改原因', reason_required: '请填写修改原因',
  drawing_hint: '在地图上逐点单击绘制，单击第一个点闭合。顶点会吸附到相邻网格的边和顶点。',
  editing_hint: '拖动顶点修改边界，拖动边中点添加顶点。顶点会吸附到相邻网格。',
  checking: '正在校验…', check_ok: '校验通过：没有重叠。',
  check_overlap: '将与 {grids} 重叠 {area} ㎡（{n} 栋建筑）',
  check_gap: '将产生空隙 {area} ㎡（{n} 栋建筑）',
  check_invalid: '边界无效：{why}', outside_parent: '超出上级边界 {area} ㎡',
  refused_outside_village: '超出本村（社区）范围 {area} ㎡，无权保存',
  refused_overlaps_foreign: '与 {n} 个无权编辑的网格重叠，无权保存',
  refused_takes_buildings: '将从无权编辑的网格划走 {n} 栋建筑，无权保存',
  other_grid: '其他网格',
  moving: '将改变所属网格的建筑：{n} 栋', from_to: '{b}：{from} → {to}', none: '无',
  saved: '已保存，版本 {v}。', save_failed: '保存失败：{msg}',
  conflict_stale: '{who} 在 {at} 已保存了更新的版本 {v}（原因：{why}）。你的修改没有丢失，也不会覆盖对方的修改。',
  discard: '放弃我的修改',
  legend_share: '已走访户数占比', legend_households: '户数（每个核密度半径内）',
  outbox_waiting: '{n} 条走访待上传', outbox_rejected: '{n} 条走访被拒绝',
  visit_queued: '已保存在本机，联网后自动上传。', offline_building: '当前离线：建筑详情暂不可看，仍可记录走访，联网后自动上传。',
  repair_village: '修复 {v} 的网格', repair_title: '修复预览：{v}', repair_apply: '应用修复',
  repair_overlap: '重叠 {area} ㎡：从 {from} 划给 {to}', repair_gap: '空隙 {area} ㎡ 并入 {to}',
  repair_snapped: '{grid}：{n} 个顶点对齐到相邻网格', repair_clipped: '{grid}：裁去边界外 {area} ㎡',
  repair_made_valid: '{grid}：修正无效边界', repair_other: '{grid}：已调整',
  repair_fragment: '{from} 的碎片 {area} ㎡ 并入 {to}',
  repair_left_item: '{what} {grids} {area} ㎡，含 {n} 栋建筑：超过自动修复的阈值或含有建筑',
  left_overlap: '重叠', left_gap: '空隙', left_invalid_grid: '无效网格', left_fragment: '碎片',
  repair_nothing: '没有可自动修复的问题。', repair_moves: '将改变所属网格的建筑：{n} 栋（{h} 户）',
  repair_left: '留待人工处理：', repair_applied: '已修复，{n} 个网格各保存了一个新版本。',
  where: '位置',
  edit_restored: '已恢复登录失效前未保存的边界修改，请检查后保存。',
  err_network: '无法连接服务器：请检查网络，稍后会自动重试。', err_unauthorized: '登录已失效，请重新登录。',
  err_bad_login: '用户名或密码错误。', err_too_many_attempts: '登录失败次数过多，请稍后再试。', err_too_many_requests: '请求过多，请稍后再试。',
  err_forbidden: '超出您的管辖范围，无权操作。', err_not_found: '未找到。', err_stale: '已有人保存了更新的版本。',
  err_internal: '服务器内部错误，请联系管理员。', err_bad_request: '请求有误', err_conflict: '与现有数据冲突',
  err_invalid_request: '请求格式有误', err_unavailable: '数据库暂时无法访问，请稍后再试。',
  err_not_implemented: '此功能在当前数据库上尚未提供。',
  plan_adopt_title: '采用此方案', plan_adopt: '采用为本村（社区）的网格',
  plan_adopt_hint: '延续现有网格的方案网格保留原编码和历史，新网格按本村编码顺延，其余现有网格删除（可从历史恢复）。',
  plan_adopt_confirm: '确定用此方案替换 {v} 的全部网格吗？', plan_adopted: '已采用：保存 {n} 个网格，删除 {d} 个。',
  reset_view: '重置', unit_name: '名称',
  redo: '重做', restore_version: '恢复此版本', restore_title: '恢复到版本 {v}',
  restore_reason_default: '恢复到版本 {v}',
  unsaved_confirm: '当前边界修改尚未保存，确定放弃吗？',
  overlap_item: '与 {grids} 重叠 {area} ㎡（{n} 栋建筑）',
  overlap_fix_first: '请先调整边界消除重叠；只有村（社区）及以上管理员可以保存有重叠的网格。',
  merge_possible: '两处修改涉及不同的顶点，可以合并：合并后请检查校验结果再保存。',
  merge_impossible: '两处修改涉及相同的顶点，无法自动合并：请在最新版本上重做你的修改（你的修改以红色显示在旁边）。',
  merge_edits: '合并两处修改', redo_on_latest: '在最新版本上重做',
  choose_outcome: '请选择走访结果',
  conflict_overlap: '保存会产生以下重叠：',
  save_anyway: '仍然保存（记录为有问题的网格）',
  history: '历史版本', diff: '对比', diff_legend: '红色：版本 {a}；蓝色：版本 {b}',
  at: '时间', who: '修改人', why: '原因', deleted: '已删除',
  no_edit_right: '你的角色不能修改网格边界。',
  // coverage
  layers: '图层', basemap: '底图', buildings_by_visit: '建筑走访状态', heat_visited: '热力图：已走访',
  heat_unvisited: '热力图：未走访', heat_coverage: '热力图：覆盖率', problems_layer: '校验问题',
  visit_visited: '已走访', visit_unvisited: '未走访', visit_nobody_home: '无人在家', visit_refused: '拒绝',
  visit_demolished: '已拆除', visit_newly_found: '新发现',
  uncovered: '未覆盖区块', kind_unvisited: '未走访', kind_in_no_grid: '不在任何网格', kind_in_many_grids: '属于多个网格',
  buildings: '建筑', households: '户数', zoom_to: '定位',
  problems: '校验问题', type: '类型', grids: '网格', area_m2: '面积（㎡）',
  type_overlap: '重叠', type_gap: '空隙', type_in_no_grid: '不在网格内', type_invalid_grid: '无效边界',
  type_in_many_grids: '属于多个网格', type_outside_boundary: '超出上级边界', type_straddling: '建筑跨网格',
  type_address_not_in_building: '地址不在建筑内', type_address_grid_mismatch: '地址所属网格不符',
  action_created: '新建', action_updated: '修改', action_deleted: '删除', action_restored: '恢复',
  no_problems: '没有校验问题。',
  // building panel
  building: '建筑', address: '地址', floors: '层数', houses: '房屋', visits: '走访记录',
  people: '人员', name: '姓名', id_number: '身份证号', phone: '电话', relation: '与户主关系',
  people_masked: '按你的权限，个人信息已脱敏。', people_clear: '你可以查看完整个人信息，此次查看已记录。',
  record_visit: '登记走访', outcome: '结果', note: '备注', record: '提交', recorded: '已登记走访。',
  flagged: '位置异常', no_people: '无人员信息',
  // dashboard
  by_grid: '按网格', by_village: '按村（社区）', rank: '排名', visit_rate: '走访率（按建筑）',
  expected_rate: '应达进度', linkage_rate: '人房关联率', visited_households: '已走访户数',
  behind: '落后', export_xlsx: '导出 Excel', progress_chart: '走访进度', actual: '实际', expected: '应达',
  total: '合计', flagged_visits: '异常走访',
  towns_title: '各镇排名', towns_division: '· 辖区 {code}', towns_loading: '正在加载各镇排名…', towns_own: '本镇',
  town: '镇（街道）', visited_buildings: '已走访建筑',
  scorecard: '“三个100%、三个95%”考核', scorecard_export: '导出月度排名', scorecard_pdf: '打印月度通报（PDF）',
  sc_visit_rate: '入户调查率', sc_registration_rate: '基础信息核查登记率', sc_attention_rate: '重点关注率',
  sc_consistency_rate: '数据一致率', sc_linkage_rate: '人房关联率', sc_awareness_rate: '群众知晓率',
  sc_satisfaction_rate: '群众满意率', sc_plate_rate: '二维码管理率', sc_target: '目标 {pct}', sc_none: '无数据',
  print_map: '打印地图', print_title: '{town} 走访覆盖图', north: '北', printed_by: '{who} 打印于 {at}',
  knows_worker: '认识网格员', satisfaction: '满意度', yes: '是', no: '否',
  key_subjects: '重点单位、场所、人员', key_subjects_note: '仅网格长和管理员可见；每次查看均记录。',
  key_kind: '类型', key_category: '类别', key_unit: '重点单位', key_place: '重点场所', key_person: '重点人员',
  attention: '关注等级', attention_unset: '未标注', key_add: '添加',
  tasks: '核查任务（公安比对）', task_done: '已核查', tasks_none: '没有待核查的地址。',
  // plans
  plan_new: '生成网格方案', plan_village: '村（社区）', plan_grids: '网格数', plan_target: '目标户数',
  plan_tolerance: '允许偏差', plan_from_current: '在现有网格基础上调整', plan_start: '开始计算',
  plan_running: '计算中：{phase} {pct}%', plan_failed: '方案计算失败：{msg}',
  plan_report: '方案评估', plan_before: '调整前户数', plan_after: '调整后户数', plan_moves: '变动建筑',
  plan_deviation: '最大偏差', plan_pp: '紧凑度（PP 均值/最小）', plan_contiguous: '全部连通',
  plan_within: '偏差在 ±{pct}% 内的网格', plan_shape: '形状', plan_shape_counts: '触手 {tentacles}，飞地 {enclaves}',
  plan_notes: '未达标网格及原因',
  plan_tentacles: '保留的触手及原因',
  plan_size: '划分依据', plan_by_grids: '按网格数', plan_by_target: '按每格户数', plan_export: '导出方案（GeoJSON）',
  plan_export_gpkg: '导出方案（GeoPackage）', plan_print: '打印方案图', plan_print_title: '{town}{v} 网格划分方案{name}',
  plan_name: '方案名称', plan_save: '保存方案', plan_saved_as: '已保存为“{name}”（{who}，{at}）',
  plan_saved_list: '已保存的方案', plan_saved_none: '还没有保存的方案。', plan_open: '打开', plan_delete: '删除',
  plan_delete_confirm: '确定删除方案“{name}”吗？（已采用的网格不受影响）', plan_is_adopted: '已采用',
  saved_by: '保存人', saved_at: '保存时间', plan_key: '方案图例', plan_grid_n: '{n} 个网格', plan_name_required: '请填写方案名称。',
  phase_starting: '准备中', phase_building_atoms: '划分基本单元', phase_solving_and_drawing: '求解并绘制边界',
  phase_measuring: '评估', phase_validating: '校验', phase_done: '完成',
  tentacle_arm: '含 {b} 栋建筑（{h} 户）的狭长部分', tentacle_land: '无建筑的狭长空地', tentacle_along: '，沿 {list}',
  tentacle_tried: '：{n} 次移交或与邻格重新划分的尝试均未采用，其中 {m} 次{rule}',
  tentacle_rule_unbalanced: '会使网格超出 ±{pct}%（或偏差更大）',
  tentacle_rule_thinner: '会使另一网格比方案中任何网格都更狭长',
  tentacle_rule_no_fewer: '未减少触手（本格仍有触手，或邻格出现新触手）',
  tentacle_rule_split: '会使网格不连通',
  tentacle_heavy: '：本格是一栋超出目标的建筑单独成格，保留其用地',
  tentacle_untried: '：未尝试消除（本规模输入的尝试次数已用完，或由最后的均衡调整产生）',
  tentacle_from_current: '：在现有网格基础上调整时尽量少动建筑、不改变网格形状，此触手为现有网格所有或随移动的建筑而来',
  note_heavy_building: '建筑 {b} 工作量 {w}，单独就超过目标 {target} 的允许范围，自成一个网格',
  note_heavy_buildings: '{n} 栋须在一起的建筑（含 {b}）工作量 {w}，超过目标 {target} 的允许范围，自成一个网格',
  note_separate_parts: '辖区分为 {parts} 块互不相连的土地，网格不能跨块：本块工作量 {w}，分 {grids} 个网格，每格约 {each}',
  note_heavy: '超出 {by}', note_light: '不足 {by}', note_sep: '：',
  note_overshoots_heavy: '可划给邻格的最轻建筑工作量 {lightest}，大于保持 ±{pct}% 时最多可减少的 {room}',
  note_overshoots_light: '可从邻格划入的最轻建筑工作量 {lightest}，大于保持 ±{pct}% 时最多可增加的 {room}',
  note_neighbours_full_heavy: '邻格（{list}）接收其边上任一建筑（最轻 {lightest}）都会超出 ±{pct}%',
  note_neighbours_full_light: '邻格（{list}）划出任一相邻建筑（最轻 {lightest}）都会超出 ±{pct}%',
  note_kept_for_shape_heavy: '把一栋工作量 {w} 的建筑划给 {q} 即可达标，为保持网格形状（或在现有网格上少动建筑）未调整',
  note_kept_for_shape_light: '从 {q} 划入一栋工作量 {w} 的建筑即可达标，为保持网格形状（或在现有网格上少动建筑）未调整',
  note_would_split: '可达标的建筑（最轻 {lightest}）移动后都会使网格不连通',
  note_no_trade: '边上没有可调整的建筑（与邻格之间只隔着无建筑的空地，或不与其他网格相邻）',
  plan_show: '显示', plan_current: '现有网格', plan_proposed: '方案网格', yes: '是', no: '否',
  side_by_side: '并排对比', overlay: '叠加对比',
  error: '出错：{msg}', forbidden: '无权访问。', session_expired: '登录已过期，请重新登录。',
};

const en = {
  app_title: 'gridmap grid management',
  username: 'Username', password: 'Password', sign_in: 'Sign in', sign_out: 'Sign out',
  lang_other: '中文',
  login_failed: 'Sign-in failed: {msg}',
  tab_map: 'Grid editing', tab_coverage: 'Coverage', tab_dashboard: 'Progress', tab_plans: 'Plans',
  tab_reviews: 'Self-reports',
  reviews_title: 'Self-reports to review', reviews_hint: 'Households residents declared by scanning a QR door plate: check, then confirm to register; a rejected one is deleted and nothing of it is kept.',
  reviews_none: 'No self-report is waiting.', reviews_confirm: 'Checked: register it', reviews_reject: 'Reject (delete)',
  reviews_reject_confirm: 'Reject this self-report? It will be deleted.', reviews_confirmed: '{n} people registered.', reviews_rejected: 'Rejected and deleted.',
  plates_title: 'Print plates', plates_print: 'Print plates', plates_base: 'Address the codes open', plates_printed: 'The plates PDF of {grid} is made.',
  role_admin: 'Administrator', role_town_supervisor: 'Town supervisor', role_village_manager: 'Village manager',
  role_grid_leader: 'Grid leader', role_grid_worker: 'Grid worker', role_planner: 'Planner',
  loading: 'Loading…',
  grids_in_scope: 'My grids', grid: 'Grid', village: 'Village', version: 'Version',
  edit_shape: 'Edit boundary', draw_new: 'Draw a new grid', new_code: 'New grid code', cancel: 'Cancel',
  undo: 'Undo', save: 'Save', reason: 'Reason for the change', reason_required: 'Say why you changed it',
  drawing_hint: 'Click on the map point by point; click the first point to close. Vertices snap to neighbouring grids’ edges and vertices.',
  editing_hint: 'Drag a vertex to move it, drag an edge’s midpoint to add one. Vertices snap to neighbouring grids.',
  checking: 'Checking…', check_ok: 'Check passed: no overlap.',
  check_overlap: 'Would overlap {grids} by {area} m² ({n} buildings)',
  check_gap: 'Would leave a gap of {area} m² ({n} buildings)',
  check_invalid: 'Invalid boundary: {why}', outside_parent: 'Reaches {area} m² outside its parent',
  refused_outside_village: 'Reaches {area} m² outside your village: you may not save it',
  refused_overlaps_foreign: 'Overlaps {n} grid(s) you may not edit: you may not save it',
  refused_takes_buildings: 'Would take {n} building(s) from grids you may not edit: you may not save it',
  other_grid: 'another grid',
  moving: 'Buildings that would change grid: {n}', from_to: '{b}: {from} → {to}', none: 'none',
  saved: 'Saved as version {v}.', save_failed: 'Saving failed: {msg}',
  conflict_stale: '{who} saved a newer version {v} at {at} (reason: {why}). Your edit is kept, and will not overwrite theirs.',
  discard: 'Discard my edit',
  legend_share: 'share of households visited', legend_households: 'households (within a kernel radius)',
  outbox_waiting: '{n} visits waiting to be sent', outbox_rejected: '{n} visits refused',
  visit_queued: 'Saved on this device; it will be sent when the network is back.', offline_building: 'Offline: the building’s details cannot be shown, but a visit can be recorded and will be sent later.',
  repair_village: 'Repair the grids of {v}', repair_title: 'Repair preview: {v}', repair_apply: 'Apply the repair',
  repair_overlap: 'overlap of {area} m²: from {from} to {to}', repair_gap: 'gap of {area} m² joined to {to}',
  repair_snapped: '{grid}: {n} vertices aligned with the neighbours', repair_clipped: '{grid}: {area} m² outside the boundary cut off',
  repair_made_valid: '{grid}: invalid outline made valid', repair_other: '{grid}: adjusted',
  repair_fragment: 'a {area} m² fragment of {from} joined to {to}',
  repair_left_item: '{what} {grids} of {area} m² holding {n} buildings: above the repair thresholds or holding buildings',
  left_overlap: 'Overlap', left_gap: 'Gap', left_invalid_grid: 'Invalid grid', left_fragment: 'Fragment',
  repair_nothing: 'Nothing to repair automatically.', repair_moves: 'Buildings that change grid: {n} ({h} households)',
  repair_left: 'Left for a person:', repair_applied: 'Repaired: {n} grids saved with a new version each.',
  where: 'Where',
  edit_restored: 'The boundary edit left unsaved when your session ended is back: check it, then save.',
  err_network: 'Cannot reach the server: check the network; it will be retried.', err_unauthorized: 'Your session has ended: sign in again.',
  err_bad_login: 'Wrong username or password.', err_too_many_attempts: 'Too many failed sign-ins: wait a few minutes.', err_too_many_requests: 'Too many requests: try again later.',
  err_forbidden: 'Outside your part of the organisation.', err_not_found: 'Not found.', err_stale: 'Someone saved a newer version.',
  err_internal: 'Internal server error: tell the administrator.', err_bad_request: 'Bad request', err_conflict: 'Conflicts with the data',
  err_invalid_request: 'Malformed request', err_unavailable: 'The database cannot be reached right now: try again in a moment.',
  err_not_implemented: 'Not available on this database yet.',
  plan_adopt_title: 'Adopt this plan', plan_adopt: 'Make it the village’s grids',
  plan_adopt_hint: 'Plan grids that continue a current grid keep its code and history; new grids take the village’s next codes; the other current grids are deleted (restorable from history).',
  plan_adopt_confirm: 'Replace all grids of {v} with this plan?', plan_adopted: 'Adopted: {n} grids saved, {d} deleted.',
  reset_view: 'Reset', unit_name: 'Name',
  redo: 'Redo', restore_version: 'Restore this version', restore_title: 'Restore version {v}',
  restore_reason_default: 'Restored version {v}',
  unsaved_confirm: 'The boundary edit is not saved. Discard it?',
  overlap_item: 'overlaps {grids} by {area} m² ({n} buildings)',
  overlap_fix_first: 'Move the boundary to remove the overlaps first; only village-level managers and above may save a grid with overlaps.',
  merge_possible: 'The two edits moved different vertices and can be merged: check the result, then save.',
  merge_impossible: 'Both edits moved the same vertices and cannot be merged: redo your edit on the newest version (yours is drawn beside it in red).',
  merge_edits: 'Merge both edits', redo_on_latest: 'Redo on the newest version',
  choose_outcome: 'Choose the outcome',
  conflict_overlap: 'Saving would create these overlaps:',
  save_anyway: 'Save anyway (recorded as a grid with problems)',
  history: 'History', diff: 'Compare', diff_legend: 'Red: version {a}; blue: version {b}',
  at: 'When', who: 'Who', why: 'Why', deleted: 'deleted',
  no_edit_right: 'Your role cannot change grid boundaries.',
  layers: 'Layers', basemap: 'Basemap', buildings_by_visit: 'Buildings by visit status', heat_visited: 'Heatmap: visited',
  heat_unvisited: 'Heatmap: unvisited', heat_coverage: 'Heatmap: coverage', problems_layer: 'Validation problems',
  visit_visited: 'Visited', visit_unvisited: 'Not visited', visit_nobody_home: 'Nobody home', visit_refused: 'Refused',
  visit_demolished: 'Demolished', visit_newly_found: 'Newly found',
  uncovered: 'Uncovered blocks', kind_unvisited: 'Not visited', kind_in_no_grid: 'In no grid', kind_in_many_grids: 'In several grids',
  buildings: 'Buildings', households: 'Households', zoom_to: 'Zoom',
  problems: 'Validation problems', type: 'Type', grids: 'Grids', area_m2: 'Area (m²)',
  type_overlap: 'Overlap', type_gap: 'Gap', type_in_no_grid: 'In no grid', type_invalid_grid: 'Invalid boundary',
  type_in_many_grids: 'In several grids', type_outside_boundary: 'Outside its parent', type_straddling: 'Building across grids',
  type_address_not_in_building: 'Address not in a building', type_address_grid_mismatch: 'Address in another grid',
  action_created: 'created', action_updated: 'updated', action_deleted: 'deleted', action_restored: 'restored',
  no_problems: 'No validation problems.',
  building: 'Building', address: 'Address', floors: 'Floors', houses: 'Houses', visits: 'Visits',
  people: 'People', name: 'Name', id_number: 'ID number', phone: 'Phone', relation: 'Relation',
  people_masked: 'Personal data is masked for your role.', people_clear: 'You see personal data in clear; this view is audited.',
  record_visit: 'Record a visit', outcome: 'Outcome', note: 'Note', record: 'Record', recorded: 'Visit recorded.',
  flagged: 'location flagged', no_people: 'No people recorded',
  by_grid: 'By grid', by_village: 'By village', rank: 'Rank', visit_rate: 'Visit rate (by building)',
  expected_rate: 'Expected by today', linkage_rate: 'Linkage rate', visited_households: 'Visited households',
  behind: 'behind', export_xlsx: 'Export to Excel', progress_chart: 'Visits over time', actual: 'Actual', expected: 'Expected',
  total: 'Total', flagged_visits: 'Flagged visits',
  towns_title: 'Towns of the division', towns_division: '· {code}', towns_loading: 'Loading the towns of the division…', towns_own: 'this town',
  town: 'Town', visited_buildings: 'Visited buildings',
  scorecard: 'Campaign scorecard (three 100%, three 95%)', scorecard_export: 'Export the monthly ranking', scorecard_pdf: 'Print the monthly report (PDF)',
  sc_visit_rate: 'Households visited', sc_registration_rate: 'Checked and registered', sc_attention_rate: 'Key subjects rated',
  sc_consistency_rate: 'Agrees with police', sc_linkage_rate: 'Linkage rate', sc_awareness_rate: 'Residents aware',
  sc_satisfaction_rate: 'Residents satisfied', sc_plate_rate: 'QR plates in use', sc_target: 'target {pct}', sc_none: 'no data',
  print_map: 'Print the map', print_title: '{town} visit coverage', north: 'N', printed_by: 'Printed by {who} on {at}',
  knows_worker: 'Knows the grid worker', satisfaction: 'Satisfaction', yes: 'yes', no: 'no',
  key_subjects: 'Key units, places and persons', key_subjects_note: 'Only grid leaders and admins see these; every view is audited.',
  key_kind: 'Kind', key_category: 'Category', key_unit: 'Key unit', key_place: 'Key place', key_person: 'Key person',
  attention: 'Attention level', attention_unset: 'not set', key_add: 'Add',
  tasks: 'Addresses to check (police register)', task_done: 'Checked', tasks_none: 'No address to check.',
  plan_new: 'Propose a plan', plan_village: 'Village', plan_grids: 'Grids', plan_target: 'Target households',
  plan_tolerance: 'Tolerance', plan_from_current: 'Start from today’s grids', plan_start: 'Compute',
  plan_running: 'Computing: {phase} {pct}%', plan_failed: 'The plan failed: {msg}',
  plan_report: 'Plan report', plan_before: 'Households before', plan_after: 'Households after', plan_moves: 'Buildings that move',
  plan_deviation: 'Max deviation', plan_pp: 'Compactness (PP mean/min)', plan_contiguous: 'All contiguous',
  plan_within: 'Grids within ±{pct}%', plan_shape: 'Shape', plan_shape_counts: '{tentacles} tentacles, {enclaves} enclaves',
  plan_notes: 'Grids off target, and why',
  plan_tentacles: 'Tentacles left, and why',
  plan_size: 'Size by', plan_by_grids: 'number of grids', plan_by_target: 'households a grid', plan_export: 'Export the plan (GeoJSON)',
  plan_export_gpkg: 'Export the plan (GeoPackage)', plan_print: 'Print the plan map', plan_print_title: '{town} {v}: grid plan{name}',
  plan_name: 'Plan name', plan_save: 'Save the plan', plan_saved_as: 'Saved as “{name}” ({who}, {at})',
  plan_saved_list: 'Saved plans', plan_saved_none: 'No saved plans yet.', plan_open: 'Open', plan_delete: 'Delete',
  plan_delete_confirm: 'Delete the plan “{name}”? (Grids already adopted stay.)', plan_is_adopted: 'adopted',
  saved_by: 'Saved by', saved_at: 'Saved at', plan_key: 'Plan key', plan_grid_n: '{n} grids', plan_name_required: 'Give the plan a name.',
  phase_starting: 'starting', phase_building_atoms: 'building atoms', phase_solving_and_drawing: 'solving and drawing',
  phase_measuring: 'measuring', phase_validating: 'validating', phase_done: 'done',
  tentacle_arm: 'an arm holding {b} building(s) ({h} households)', tentacle_land: 'an arm of land without buildings', tentacle_along: ' along {list}',
  tentacle_tried: ': {n} trial(s) to hand it over or to redraw the grid with its neighbours were refused, {m} because they {rule}',
  tentacle_rule_unbalanced: 'left a grid outside ±{pct}% (or further outside it)',
  tentacle_rule_thinner: 'left another grid thinner than any in the plan',
  tentacle_rule_no_fewer: 'left as many tentacles (this grid kept an arm, or a neighbour grew one)',
  tentacle_rule_split: 'left a grid in pieces',
  tentacle_heavy: ': the grid is a building of its own, heavier than the target, and keeps its land',
  tentacle_untried: ': no trial to remove it was made (the trials allowed for an input this large ran out, or it came with the last balance repair)',
  tentacle_from_current: ': rebalancing today’s grids moves as few buildings as it can and reshapes nothing: the arm is today’s, or came with a building that moved',
  note_heavy_building: 'Building {b} alone has workload {w}, beyond the window of target {target}: a grid of its own',
  note_heavy_buildings: '{n} buildings that must stay together (with {b}) have workload {w}, beyond the window of target {target}: a grid of its own',
  note_separate_parts: 'The area is in {parts} separate parts and a grid cannot span two: this part holds {w} for {grids} grid(s) of about {each}',
  note_heavy: 'Too heavy by {by}', note_light: 'Too light by {by}', note_sep: ': ',
  note_overshoots_heavy: 'the lightest building it could give a neighbour has {lightest}, more than the {room} it can lose within ±{pct}%',
  note_overshoots_light: 'the lightest building it could take from a neighbour has {lightest}, more than the {room} it can gain within ±{pct}%',
  note_neighbours_full_heavy: 'its neighbours ({list}) would leave ±{pct}% taking any building along its edge (lightest {lightest})',
  note_neighbours_full_light: 'its neighbours ({list}) would leave ±{pct}% giving any building along its edge (lightest {lightest})',
  note_kept_for_shape_heavy: 'moving a building of {w} to {q} would fit; it was kept for the grids’ shape (or to move fewer buildings)',
  note_kept_for_shape_light: 'taking a building of {w} from {q} would fit; it was kept for the grids’ shape (or to move fewer buildings)',
  note_would_split: 'every building that would fit (lightest {lightest}) would split its grid',
  note_no_trade: 'no building on its edge can change grid (it meets its neighbours only across land without buildings, or not at all)',
  plan_show: 'Show', plan_current: 'Today’s grids', plan_proposed: 'Proposed grids', yes: 'yes', no: 'no',
  side_by_side: 'Side by side', overlay: 'Overlay',
  error: 'Error: {msg}', forbidden: 'Not allowed.', session_expired: 'Your session expired; sign in again.',
};

export const dictionaries = { zh, en };
let lang = globalThis.localStorage?.getItem('gridmap.lang') === 'en' ? 'en' : 'zh';

export function currentLang() { return lang; }

export function t(key, vars = {}) {
  const s = dictionaries[lang][key] ?? dictionaries.zh[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? `{${k}}`));
}

/** Fills every `[data-t]` element under `root` with its text. */
export function translate(root = document) {
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  for (const el of root.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
  for (const el of root.querySelectorAll('[data-lang-toggle]')) el.textContent = t('lang_other');
}

export function setLang(next) {
  lang = next === 'en' ? 'en' : 'zh';
  localStorage.setItem('gridmap.lang', lang);
  translate();
}

/**
 * A partition report's note on a grid (why it misses the target, or stands alone), worded
 * from its kind and figures; the server's English `reason` when the kind is unknown.
 */
export function noteText(n, tolerancePct) {
  const f = (x) => num(x);
  switch (n.kind) {
    case 'heavy_building':
      return t(n.buildings > 1 ? 'note_heavy_buildings' : 'note_heavy_building',
        { n: n.buildings, b: n.building, w: f(n.workload), target: num(n.target, 1) });
    case 'separate_parts':
      return t('note_separate_parts', { parts: n.parts, w: f(n.workload), grids: n.grids_in_part, each: f(n.target) });
    case 'overshoots': case 'neighbours_full': case 'kept_for_shape': case 'would_split': case 'no_trade': {
      const side = n.too_heavy ? 'heavy' : 'light';
      const key = ['would_split', 'no_trade'].includes(n.kind) ? `note_${n.kind}` : `note_${n.kind}_${side}`;
      const why = t(key, {
        lightest: f(n.lightest), room: f(n.room), pct: num(tolerancePct), w: f(n.workload),
        q: n.neighbours?.[0], list: (n.neighbours ?? []).join(lang === 'zh' ? '、' : ', '),
      });
      return `${t(`note_${side}`, { by: f(n.by) })}${t('note_sep')}${why}`;
    }
    default:
      return n.reason;
  }
}

/**
 * A partition report's note on a tentacle left (an arm of a grid, and why the plan keeps
 * it), worded from its kind and figures; the server's English `reason` when the kind is
 * unknown.
 */
export function tentacleText(n, tolerancePct) {
  const refused = {
    unbalanced: n.refused_unbalanced ?? 0, thinner: n.refused_thinner ?? 0,
    no_fewer: n.refused_no_fewer ?? 0, split: n.refused_split ?? 0,
  };
  let why;
  switch (n.kind) {
    case 'heavy_building': why = t('tentacle_heavy'); break;
    case 'untried': why = t('tentacle_untried'); break;
    case 'from_current': why = t('tentacle_from_current'); break;
    case 'unbalanced': case 'thinner': case 'no_fewer': case 'split':
      why = t('tentacle_tried', {
        n: num(Object.values(refused).reduce((a, b) => a + b, 0)), m: num(refused[n.kind]),
        rule: t(`tentacle_rule_${n.kind}`, { pct: num(tolerancePct) }),
      });
      break;
    default:
      return n.reason;
  }
  const what = n.buildings > 0 ? t('tentacle_arm', { b: num(n.buildings), h: num(n.households) }) : t('tentacle_land');
  const along = (n.neighbours ?? []).length ? t('tentacle_along', { list: n.neighbours.join(lang === 'zh' ? '、' : ', ') }) : '';
  return `${what}${along}${why}`;
}

/** Formats a number for the current language: 12,345 / 12,345.6. */
export function num(x, digits = 0) {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  return Number(x).toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** A server time (RFC 3339, UTC) in the user's local time and language; '' for none. */
export function localTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB', { hour12: false, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
}

export function pct(x, digits = 1) {
  if (x === null || x === undefined) return '–';
  return `${num(x * 100, digits)}%`;
}
