#!/usr/bin/env python3
"""Writes data/demo/households.csv: a SYNTHETIC household form (城乡社区网格住户基础信息登记表)
for the demo town. Every person is fictional: names are 测试 + a counter character, ID numbers
have fake birth dates and region 110105 with valid GB 11643 check digits, phones are 1380000xxxx.
Addresses are the demo's standard addresses with a room number, so houses link to real buildings.

    python3 data/build_households.py      (from the repository root; deterministic)
"""
import csv
import json
import random
from pathlib import Path

root = Path(__file__).resolve().parent
addresses = json.loads((root / "demo" / "addresses.geojson").read_text(encoding="utf-8"))["features"]
rng = random.Random(2026)

NAMES = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥"
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECK = "10X98765432"


def fake_id(n):
    year = 1950 + n % 55
    month = 1 + n % 12
    day = 1 + n % 28
    body = f"110105{year:04d}{month:02d}{day:02d}{n % 1000:03d}"
    total = sum(int(c) * w for c, w in zip(body, WEIGHTS))
    return body + CHECK[total % 11]


rows = []
person = 0
texts = sorted({f["properties"]["text"] for f in addresses if f["properties"].get("text")})
for text in texts:
    for _ in range(rng.randint(1, 3)):
        room = f"{rng.randint(1, 12)}{rng.randint(1, 4):02d}室"
        # Each row of the form is a person: vacant houses (空置) have no row here.
        nature = rng.choice(["自购", "租住", "自建", "单位宿舍"])
        for k in range(rng.randint(1, 4)):
            person += 1
            rows.append([
                text + room if k == 0 else "",
                "测试" + NAMES[person % len(NAMES)] + str(person),
                fake_id(person),
                "户主" if k == 0 else rng.choice(["配偶", "子女", "父母", "其他"]),
                rng.choice(["已婚", "未婚"]),
                rng.choice(["是", "否"]),
                f"1380000{person:04d}",
                rng.choice(["职员", "退休", "学生", "个体"]),
                nature,
                "合成数据",
            ])
out = root / "demo" / "households.csv"
with out.open("w", encoding="utf-8", newline="") as f:
    w = csv.writer(f)
    w.writerow(["住址", "姓名", "公民身份号码", "与户主关系", "婚姻状况", "是否人户一致", "联系电话", "职业", "房屋性质", "备注"])
    w.writerows(rows)
print(f"wrote {out}: {len(rows)} rows, {person} person slots (synthetic)")
