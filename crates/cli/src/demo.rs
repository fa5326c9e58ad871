//! Synthetic certificates for demonstrations and load: Qingdao residents and companies,
//! each with the certificates such a holder would plausibly have.
//!
//! Guarantees, checked by `tests/it/demo.rs` against the real schemas:
//!
//! * every draft's values satisfy its type's schema, and its holder code type is one the
//!   type accepts;
//! * values agree with the holder: 公民身份号码, birth date and sex on every certificate of a
//!   citizen match the holder code (GB 11643: odd sequence for men); 统一社会信用代码 on a
//!   company's certificates is the holder code;
//! * every certificate is issued by the principal that `principals.json` allows to issue
//!   its type, and certificate identifiers never repeat: the serial is the issue year
//!   followed by the holder number, and a holder has at most one certificate of a type
//!   (a superseding successor keeps the serial and takes version 2);
//! * holder codes never repeat: holder numbers are mapped to identity numbers and
//!   organisation codes by a keyed permutation (below 310 million holders);
//! * the output of [`Generator::holder`] depends on the seed and the holder number only,
//!   never on the clock or on earlier calls. Dates are relative to [`AS_OF`], and every
//!   certificate is valid on that day.
//!
//! All people, companies and numbers are fictional; the place names, street names,
//! universities and hospitals are real, to make the data look familiar. This module does
//! no I/O except [`load_principals`].

use anyhow::Context as _;
use proofless_client::issuer::Draft;
use proofless_core::cert::FieldValue;
use proofless_core::ids::{CertificateId, CitizenId, HolderCode, TypeCode, Uscc};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The day the generated world is seen from: every certificate is valid on it.
pub(crate) const AS_OF: (i32, u32, u32) = (2025, 6, 30);

/// An issuing principal: its file stem in `keys-example`, its USCC and the type codes it
/// may issue.
pub(crate) type Principal = (String, Uscc, Vec<String>);

/// One certificate to issue, and what happens to it afterwards.
#[derive(Debug, Clone)]
pub(crate) struct DemoRecord {
    /// The issuing principal's stem in `keys-example`, e.g. `issuer-qingdao-civil-affairs`.
    pub(crate) issuer: String,
    /// The certificate.
    pub(crate) draft: Draft,
    /// A status change to apply after issuance; `None` for most.
    pub(crate) status: Option<DemoStatus>,
}

/// A status change after issuance.
#[derive(Debug, Clone)]
pub(crate) enum DemoStatus {
    /// Suspended (may later be reinstated).
    Suspended,
    /// Revoked.
    Revoked,
    /// Replaced: issue the successor first (same type, holder, issuer and serial,
    /// version 2), then mark this one superseded by it.
    SupersededBy(Box<DemoRecord>),
}

/// Deterministic generator of holders and their certificates.
#[derive(Debug)]
pub(crate) struct Generator {
    seed: u64,
    /// By [`Kind`] index: who issues that type, if any principal may.
    issuers: Vec<Option<(String, Uscc, TypeCode)>>,
}

impl Generator {
    /// A generator whose certificates are issued by `principals` (see
    /// [`load_principals`]). Types that no principal may issue are left out.
    pub(crate) fn new(seed: u64, principals: &[Principal]) -> Self {
        let issuers = Kind::ALL
            .iter()
            .map(|kind| {
                principals
                    .iter()
                    .find(|(_, _, codes)| codes.iter().any(|c| c == kind.code()))
                    .map(|(stem, uscc, _)| {
                        // INVARIANT: `Kind::code` returns valid type codes (unit-tested).
                        let code = TypeCode::parse(kind.code()).expect("type code constant");
                        (stem.clone(), *uscc, code)
                    })
            })
            .collect();
        Self { seed, issuers }
    }

    /// All certificates of holder number `n`, in issuance order. About 80% of holders
    /// are citizens and 20% companies. Takes `&mut self` for future caching, but the
    /// result depends only on the seed and `n`.
    pub(crate) fn holder(&mut self, n: u64) -> Vec<DemoRecord> {
        let mut out = Builder {
            generator: self,
            records: Vec::new(),
            n,
            rng: Rng::new(self.seed, n),
        };
        if out.rng.chance(0.8) {
            out.citizen();
        } else {
            out.company();
        }
        out.records
    }
}

/// Reads `principals.json` in `keys_dir` and returns its issuers.
pub(crate) fn load_principals(keys_dir: &Path) -> anyhow::Result<Vec<Principal>> {
    #[derive(Deserialize)]
    struct File {
        principals: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        name: String,
        role: String,
        uscc: String,
        #[serde(default)]
        type_codes: Vec<String>,
    }
    let path = keys_dir.join("principals.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let file: File =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    file.principals
        .into_iter()
        .filter(|p| p.role == "issuer")
        .map(|p| {
            let uscc = Uscc::parse(&p.uscc).with_context(|| format!("{}: uscc", p.name))?;
            for code in &p.type_codes {
                TypeCode::parse(code).with_context(|| format!("{}: type code", p.name))?;
            }
            Ok((p.name, uscc, p.type_codes))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Certificate types
// ---------------------------------------------------------------------------------------

/// The certificate types the generator produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    IdCard,
    SocialSecurityCard,
    HouseholdRegister,
    Marriage,
    Divorce,
    DrivingLicence,
    Graduation,
    Degree,
    RealEstateTitle,
    Disability,
    Physician,
    Nurse,
    BirthCertificate,
    BusinessLicence,
    FoodBusinessLicence,
    RoadTransportPermit,
}

impl Kind {
    pub(crate) const ALL: [Kind; 16] = [
        Kind::IdCard,
        Kind::SocialSecurityCard,
        Kind::HouseholdRegister,
        Kind::Marriage,
        Kind::Divorce,
        Kind::DrivingLicence,
        Kind::Graduation,
        Kind::Degree,
        Kind::RealEstateTitle,
        Kind::Disability,
        Kind::Physician,
        Kind::Nurse,
        Kind::BirthCertificate,
        Kind::BusinessLicence,
        Kind::FoodBusinessLicence,
        Kind::RoadTransportPermit,
    ];

    /// The 证照类型代码, as in `schemas/certificates`.
    pub(crate) const fn code(self) -> &'static str {
        match self {
            Kind::IdCard => "11100000PL00000014901",
            Kind::SocialSecurityCard => "11100000PL0000006K901",
            Kind::HouseholdRegister => "11100000PL00000014902",
            Kind::Marriage => "11100000PL00000027901",
            Kind::Divorce => "11100000PL00000027902",
            Kind::DrivingLicence => "11100000PL00000014904",
            Kind::Graduation => "11100000PL0000008R901",
            Kind::Degree => "11100000PL0000008R902",
            Kind::RealEstateTitle => "11100000MB03271699001",
            Kind::Disability => "13100000PL0000007G901",
            Kind::Physician => "11100000PL0000003A903",
            Kind::Nurse => "11100000PL0000003A904",
            Kind::BirthCertificate => "11100000PL0000003A901",
            Kind::BusinessLicence => "11100000PL0000004D901",
            Kind::FoodBusinessLicence => "11100000PL0000004D902",
            Kind::RoadTransportPermit => "11100000PL0000009W901",
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reference data
// ---------------------------------------------------------------------------------------

/// A district or county-level city of Qingdao.
struct District {
    /// GB/T 2260 code.
    code: &'static str,
    /// How authorities are prefixed: 青岛市市南区民政局, but 胶州市民政局.
    admin: &'static str,
    /// The public security organ that issues identity cards there.
    police: &'static str,
    /// Street names, separated by spaces.
    streets: &'static str,
    /// 街道, for market supervision offices (市场监督管理所), separated by spaces.
    subdistricts: &'static str,
}

impl District {
    /// An address prefix: 山东省青岛市市南区, but 山东省胶州市.
    fn province_prefix(&self) -> String {
        format!("山东省{}", self.admin)
    }
}

static DISTRICTS: [District; 10] = [
    District {
        code: "370202",
        admin: "青岛市市南区",
        police: "青岛市公安局市南分局",
        streets: "香港中路 东海西路 南京路 闽江路 云霄路 燕儿岛路",
        subdistricts: "八大关 香港中路 湛山 金门路",
    },
    District {
        code: "370203",
        admin: "青岛市市北区",
        police: "青岛市公安局市北分局",
        streets: "辽宁路 延安三路 敦化路 台东一路 威海路 登州路",
        subdistricts: "台东 辽宁路 敦化路 浮山新区",
    },
    District {
        code: "370211",
        admin: "青岛市黄岛区",
        police: "青岛市公安局黄岛分局",
        streets: "长江中路 井冈山路 江山中路 峨眉山路 珠江路 漓江西路",
        subdistricts: "长江路 辛安 黄岛 薛家岛",
    },
    District {
        code: "370212",
        admin: "青岛市崂山区",
        police: "青岛市公安局崂山分局",
        streets: "海尔路 株洲路 松岭路 苗岭路 深圳路 辽阳东路",
        subdistricts: "中韩 沙子口 金家岭 北宅",
    },
    District {
        code: "370213",
        admin: "青岛市李沧区",
        police: "青岛市公安局李沧分局",
        streets: "京口路 九水东路 金水路 黑龙江中路 振华路 书院路",
        subdistricts: "李村 兴华路 浮山路 虎山路",
    },
    District {
        code: "370214",
        admin: "青岛市城阳区",
        police: "青岛市公安局城阳分局",
        streets: "正阳路 长城路 春阳路 文阳路 崇阳路 青威路",
        subdistricts: "城阳 流亭 夏庄 棘洪滩",
    },
    District {
        code: "370215",
        admin: "青岛市即墨区",
        police: "青岛市公安局即墨分局",
        streets: "蓝鳌路 鹤山路 烟青路 振华街 文化路 天山二路",
        subdistricts: "通济 潮海 环秀 北安",
    },
    District {
        code: "370281",
        admin: "胶州市",
        police: "胶州市公安局",
        streets: "兰州东路 郑州西路 北京东路 广州北路 杭州路 常州路",
        subdistricts: "中云 阜安 三里河 胶东",
    },
    District {
        code: "370283",
        admin: "平度市",
        police: "平度市公安局",
        streets: "红旗路 扬州路 胜利路 常州路 杭州路 人民路",
        subdistricts: "东阁 李园 同和 凤台",
    },
    District {
        code: "370285",
        admin: "莱西市",
        police: "莱西市公安局",
        streets: "烟台路 威海西路 上海中路 石岛路 文化西路 重庆中路",
        subdistricts: "水集 望城 沽河 洙河",
    },
];

/// Common surnames, most frequent first (picked with a bias towards the front).
const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董\
                        袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟\
                        熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴孔汤";
const GIVEN_MALE: &str =
    "伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆旭宁龙林阳建国志文峰亮成东海鸿博泽晨";
const GIVEN_FEMALE: &str =
    "芳娜敏静丽艳娟霞燕玲桂英秀兰萍红婷雪琳慧颖倩洁琴云梅莉欣怡佳悦晶晓月璐丹蕾薇玉凤";
const ETHNIC_MINORITIES: [&str; 4] = ["回族", "满族", "蒙古族", "朝鲜族"];

/// A university or college: name, 5-digit school code, whether it grants bachelor's
/// degrees, and (major, degree type, years).
struct School {
    name: &'static str,
    code: &'static str,
    bachelor: bool,
    majors: &'static [(&'static str, &'static str, i32)],
}

// School codes of the universities are those of the 教育部 list; the vocational
// college's code is illustrative.
const SCHOOLS: [School; 6] = [
    School {
        name: "中国海洋大学",
        code: "10423",
        bachelor: true,
        majors: &[
            ("海洋科学", "理学学士", 4),
            ("计算机科学与技术", "工学学士", 4),
            ("法学", "法学学士", 4),
            ("英语", "文学学士", 4),
        ],
    },
    School {
        name: "青岛大学",
        code: "11065",
        bachelor: true,
        majors: &[
            ("临床医学", "医学学士", 5),
            ("会计学", "管理学学士", 4),
            ("纺织工程", "工学学士", 4),
            ("汉语言文学", "文学学士", 4),
        ],
    },
    School {
        name: "山东科技大学",
        code: "10424",
        bachelor: true,
        majors: &[
            ("采矿工程", "工学学士", 4),
            ("土木工程", "工学学士", 4),
            ("测绘工程", "工学学士", 4),
        ],
    },
    School {
        name: "青岛科技大学",
        code: "10426",
        bachelor: true,
        majors: &[
            ("化学工程与工艺", "工学学士", 4),
            ("高分子材料与工程", "工学学士", 4),
            ("市场营销", "管理学学士", 4),
        ],
    },
    School {
        name: "青岛理工大学",
        code: "10429",
        bachelor: true,
        majors: &[
            ("建筑学", "建筑学学士", 5),
            ("机械设计制造及其自动化", "工学学士", 4),
        ],
    },
    School {
        name: "青岛职业技术学院",
        code: "12335",
        bachelor: false,
        majors: &[
            ("电子商务", "", 3),
            ("护理", "", 3),
            ("机电一体化技术", "", 3),
        ],
    },
];

const HOSPITALS: &str = "青岛大学附属医院 青岛市市立医院 青岛市中心医院 青岛市妇女儿童医院 青岛市海慈医疗集团 青岛市第八人民医院";

/// Company trade names (字号) are one or two of these, e.g. 海润 or 海润祥和.
const TRADE_NAMES: &str = "海润 金港 瑞丰 鑫源 华泰 恒达 宏远 德利 明辉 蓝海 福瑞 佳和 信诚 泰和 盛世 联创 汇通 鼎盛 祥和 嘉禾";

/// An industry: the name's suffix, business scope, and the chances that a company in it
/// holds a food business licence and a road transport permit.
struct Industry {
    suffix: &'static str,
    scope: &'static str,
    food: f64,
    transport: f64,
}

const INDUSTRIES: [Industry; 9] = [
    Industry {
        suffix: "贸易",
        scope: "国内贸易代理；日用百货销售；五金产品批发；电子产品销售",
        food: 0.2,
        transport: 0.03,
    },
    Industry {
        suffix: "商贸",
        scope: "食品销售（仅销售预包装食品）；日用百货销售；针纺织品销售",
        food: 0.6,
        transport: 0.02,
    },
    Industry {
        suffix: "餐饮管理",
        scope: "餐饮服务；餐饮管理；食品销售",
        food: 0.95,
        transport: 0.0,
    },
    Industry {
        suffix: "食品",
        scope: "食品生产；食品销售；农副产品销售",
        food: 0.7,
        transport: 0.0,
    },
    Industry {
        suffix: "科技",
        scope: "技术服务、技术开发、技术咨询、技术交流、技术转让、技术推广；软件开发",
        food: 0.05,
        transport: 0.0,
    },
    Industry {
        suffix: "物流",
        scope: "道路货物运输（不含危险货物）；国内货物运输代理；普通货物仓储服务",
        food: 0.02,
        transport: 0.5,
    },
    Industry {
        suffix: "建筑工程",
        scope: "建设工程施工；住宅室内装饰装修；建筑材料销售",
        food: 0.0,
        transport: 0.02,
    },
    Industry {
        suffix: "海洋生物科技",
        scope: "海洋生物活性物质提取、纯化、合成技术研发；水产品批发",
        food: 0.05,
        transport: 0.0,
    },
    Industry {
        suffix: "机械制造",
        scope: "通用设备制造；机械零件、零部件加工；金属制品销售",
        food: 0.0,
        transport: 0.0,
    },
];

const ENTITY_TYPES: [&str; 4] = [
    "有限责任公司（自然人投资或控股）",
    "有限责任公司（自然人独资）",
    "其他有限责任公司",
    "股份有限公司（非上市、自然人投资或控股）",
];

// ---------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------

/// A person: the holder, or someone named on a holder's certificate.
struct Person {
    surname: char,
    given: String,
    male: bool,
    id: CitizenId,
    birth: Date,
    district: &'static District,
}

impl Person {
    fn name(&self) -> String {
        format!("{}{}", self.surname, self.given)
    }

    fn sex(&self) -> &'static str {
        if self.male { "男" } else { "女" }
    }
}

/// Field values under construction.
#[derive(Default)]
struct Fields(BTreeMap<String, FieldValue>);

impl Fields {
    fn t(mut self, name: &str, value: impl Into<String>) -> Self {
        self.0
            .insert(name.to_owned(), FieldValue::Text(value.into()));
        self
    }

    fn d(self, name: &str, date: Date) -> Self {
        self.t(name, date.iso())
    }

    fn i(mut self, name: &str, value: i64) -> Self {
        self.0.insert(name.to_owned(), FieldValue::Int(value));
        self
    }
}

/// The certificates of one holder under construction.
struct Builder<'a> {
    generator: &'a Generator,
    records: Vec<DemoRecord>,
    n: u64,
    rng: Rng,
}

impl Builder<'_> {
    /// Adds a certificate of `kind` with a status drawn from the mix (3% suspended, 2%
    /// revoked, 2% superseded); skipped when no principal may issue the type.
    fn emit(
        &mut self,
        kind: Kind,
        holder: HolderCode,
        valid: (Date, Option<Date>),
        fields: Fields,
    ) {
        let roll = self.rng.unit();
        let generator = self.generator;
        let Some((stem, uscc, code)) = &generator.issuers[kind as usize] else {
            return;
        };
        let serial = format!("{:04}{:010}", valid.0.year(), self.n);
        let draft = Draft {
            // INVARIANT: the serial is 14 or more digits, at most 24; version 1 is in range.
            id: CertificateId::new(*code, *uscc, &serial, 1).expect("serial is 14–24 digits"),
            holder,
            valid_from: valid.0.iso(),
            valid_until: valid.1.map(Date::iso),
            values: fields.0,
        };
        let status = if roll < 0.03 {
            Some(DemoStatus::Suspended)
        } else if roll < 0.05 {
            Some(DemoStatus::Revoked)
        } else if roll < 0.07 {
            let successor = DemoRecord {
                issuer: stem.clone(),
                draft: self.reissue(&draft, valid, *code, *uscc, &serial),
                status: None,
            };
            Some(DemoStatus::SupersededBy(Box::new(successor)))
        } else {
            None
        };
        self.records.push(DemoRecord {
            issuer: stem.clone(),
            draft,
            status,
        });
    }

    /// A replacement (换发/补发): same values and serial, version 2; when the certificate
    /// carries an issue date that starts its validity, both move to a later day.
    fn reissue(
        &mut self,
        draft: &Draft,
        valid: (Date, Option<Date>),
        code: TypeCode,
        uscc: Uscc,
        serial: &str,
    ) -> Draft {
        let mut next = draft.clone();
        // INVARIANT: as in `emit`, with version 2.
        next.id = CertificateId::new(code, uscc, serial, 2).expect("serial is 14–24 digits");
        let from = FieldValue::Text(draft.valid_from.clone());
        if draft.values.get("issue_date") == Some(&from) {
            let last = valid.1.map_or(as_of(), |u| u.min(as_of()));
            let day = self.rng.date_between(valid.0, last).iso();
            next.values
                .insert("issue_date".into(), FieldValue::Text(day.clone()));
            next.valid_from = day;
        }
        next
    }

    // --- People ------------------------------------------------------------------------

    fn citizen(&mut self) {
        let p = self.generator.citizen_for(self.n);
        let holder = HolderCode::Citizen(p.id);
        let address = self.address(p.district);
        let ethnicity = if self.rng.chance(0.97) {
            "汉族"
        } else {
            *self.rng.pick(&ETHNIC_MINORITIES)
        };
        let age = p.birth.age_on(as_of());

        self.id_card(&p, holder, &address, ethnicity);
        self.social_security_card(&p, holder);
        if age < 18 {
            self.birth_certificate(&p, holder);
            return;
        }

        // Life events first, so that the certificates agree with each other.
        let marriage = self.marriage_history(&p);
        let school = (age >= 22 && p.birth.year() >= 1960 && self.rng.chance(0.47))
            .then(|| self.education(&p, holder));
        let marital_status = match &marriage {
            // Married or widowed before certificates were electronic.
            None if age >= 65 && self.rng.chance(0.4) => "丧偶",
            None if age >= 28 && self.rng.chance(0.6) => "已婚",
            None => "未婚",
            Some(m) if m.divorce.is_some() && m.spouse.is_none() => "离婚",
            Some(m) if m.divorce.is_some() => "再婚",
            Some(_) => "初婚",
        };
        if let Some(m) = &marriage {
            if let Some((former, married, divorced)) = &m.divorce {
                self.divorce(&p, holder, former, *married, *divorced);
            }
            if let Some((spouse, date)) = &m.spouse {
                self.marriage(&p, holder, spouse, *date);
            }
        }
        if self.rng.chance(0.3) {
            let education = match school.flatten() {
                Some(true) => "大学本科",
                Some(false) => "大学专科",
                None => *self.rng.pick(&["高中", "初中", "中等专科", "小学"]),
            };
            self.household_register(&p, holder, &address, ethnicity, marital_status, education);
        }
        // Some draws fall after today and are dropped, hence more than the 40% aimed at.
        if self.rng.chance(0.47) {
            self.driving_licence(&p, holder, &address);
        }
        if age >= 22 && self.rng.chance(0.25) {
            let spouse = marriage.as_ref().and_then(|m| m.spouse.as_ref());
            self.real_estate(&p, holder, spouse.map(|(s, _)| s));
        }
        if self.rng.chance(0.02) {
            self.disability(&p, holder, &address, ethnicity);
        }
        let roll = self.rng.unit();
        let nurse_share = if p.male { 0.002 } else { 0.018 };
        if age >= 25 && roll < 0.01 {
            self.physician(&p, holder);
        } else if age >= 20 && roll < 0.01 + nurse_share {
            self.nurse(&p, holder);
        }
    }

    /// Someone named on a certificate: a random Qingdao resident born between the two
    /// dates of `born`.
    fn person(&mut self, male: bool, born: (Date, Date)) -> Person {
        let district = self.rng.pick(&DISTRICTS);
        let birth = self.rng.date_between(born.0, born.1);
        let seq = self.rng.below(500) as u16 * 2 + u16::from(male);
        Person {
            surname: self.rng.surname(),
            given: self.rng.given(male),
            male,
            id: citizen_id(district, birth, seq),
            birth,
            district,
        }
    }

    fn address(&mut self, d: &District) -> String {
        format!(
            "{}{}{}号{}单元{}{:02}户",
            d.province_prefix(),
            self.rng.word(d.streets),
            self.rng.range(1, 300),
            self.rng.range(1, 6),
            self.rng.range(1, 18),
            self.rng.range(1, 4),
        )
    }

    // --- Certificates of every citizen ----------------------------------------------------

    /// 居民身份证: valid 5 years when issued before 16, 10 before 26, 20 before 46, then
    /// 长期 (居民身份证法 art. 5); renewed shortly before expiry until the current card.
    fn id_card(&mut self, p: &Person, holder: HolderCode, address: &str, ethnicity: &str) {
        let adult_at = p.birth.plus_years(16).max(Date::ymd(1985, 1, 1));
        let mut from = if adult_at > as_of() {
            self.rng.date_between(p.birth.plus_days(30), as_of())
        } else {
            let last = adult_at.plus_days(730).min(as_of());
            self.rng.date_between(adult_at, last)
        };
        let until = loop {
            let term = match p.birth.age_on(from) {
                ..16 => 5,
                16..26 => 10,
                26..46 => 20,
                _ => break None,
            };
            let until = from.plus_years(term);
            if until >= as_of() {
                break Some(until);
            }
            from = until.plus_days(-self.rng.range(0, 60));
        };
        let fields = Fields::default()
            .t("name", p.name())
            .t("sex", p.sex())
            .t("ethnicity", ethnicity)
            .d("birth_date", p.birth)
            .t("address", address)
            .t("citizen_id_number", p.id.as_str())
            .t("issuing_authority", p.district.police)
            .d("valid_from", from)
            .t("valid_until", until.map_or("长期".into(), Date::iso));
        self.emit(Kind::IdCard, holder, (from, until), fields);
    }

    /// 社会保障卡: the number is the identity number; cards are valid 10 years.
    fn social_security_card(&mut self, p: &Person, holder: HolderCode) {
        let first = p
            .birth
            .plus_days(30)
            .max(as_of().plus_years(-10).plus_days(1));
        let issued = self.rng.date_between(first, as_of());
        let until = issued.plus_years(10);
        let letters = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
        let card = format!(
            "{}{}",
            char::from(*self.rng.pick(letters)),
            self.rng.digits(8)
        );
        let fields = Fields::default()
            .t("name", p.name())
            .t("social_security_number", p.id.as_str())
            .t("card_number", card)
            .d("issue_date", issued)
            .d("valid_until", until)
            .t("issuing_region", "山东省青岛市");
        self.emit(
            Kind::SocialSecurityCard,
            holder,
            (issued, Some(until)),
            fields,
        );
    }

    /// 出生医学证明 of a child; the child takes the father's surname.
    fn birth_certificate(&mut self, child: &Person, holder: HolderCode) {
        let mother_age = self.rng.range(22, 40);
        let father_age = mother_age + self.rng.range(-2, 6);
        let parent_born = |age: i64| {
            let latest = child.birth.plus_years(-(age as i32));
            (latest.plus_days(-300), latest)
        };
        let mother = self.person(false, parent_born(mother_age));
        let father = self.person(true, parent_born(father_age));
        let issued = self
            .rng
            .date_between(child.birth, child.birth.plus_days(30));
        let weeks = self.rng.range(37, 41);
        let gestation = match self.rng.range(0, 7) {
            7 => format!("{weeks}"),
            d => format!("{weeks}+{d}"),
        };
        let fields = Fields::default()
            .t("newborn_name", child.name())
            .t("sex", child.sex())
            .d("birth_date", child.birth)
            .t(
                "birth_time",
                format!("{:02}:{:02}", self.rng.range(0, 23), self.rng.range(0, 59)),
            )
            .t("gestational_age", gestation)
            .i("birth_weight_g", self.rng.range(2500, 4200))
            .i("birth_length_cm", self.rng.range(47, 53))
            .t("birth_place", child.district.province_prefix())
            .t("midwifery_institution", self.rng.word(HOSPITALS))
            .t("mother_name", mother.name())
            .i("mother_age", mother_age)
            .t("mother_nationality", "中国")
            .t("mother_ethnicity", "汉族")
            .t("mother_id_number", mother.id.as_str())
            .t("father_name", format!("{}{}", child.surname, father.given))
            .i("father_age", father_age)
            .t("father_nationality", "中国")
            .t("father_ethnicity", "汉族")
            .t("father_id_number", father.id.as_str())
            .t(
                "certificate_number",
                format!(
                    "{}{}",
                    self.rng.pick(&['O', 'P', 'Q', 'R']),
                    self.rng.digits(9)
                ),
            )
            .d("issue_date", issued);
        self.emit(Kind::BirthCertificate, holder, (issued, None), fields);
    }
}

/// A citizen's marriages: the current spouse with the registration date, and a former
/// one with the marriage and divorce dates.
struct Marriages {
    spouse: Option<(Person, Date)>,
    divorce: Option<(Person, Date, Date)>,
}

impl Builder<'_> {
    /// About half of adults are married (legal age 22 for men, 20 for women); one in ten
    /// of those has divorced, and half of the divorced have remarried.
    fn marriage_history(&mut self, p: &Person) -> Option<Marriages> {
        if !self.rng.chance(0.55) {
            return None;
        }
        let first = self.wed(p, p.birth.plus_years(if p.male { 22 } else { 20 }))?;
        if !self.rng.chance(0.1) {
            return Some(Marriages {
                spouse: Some(first),
                divorce: None,
            });
        }
        let divorced = self
            .rng
            .date_between(first.1.plus_days(365), first.1.plus_years(12));
        if divorced > as_of() {
            return Some(Marriages {
                spouse: Some(first),
                divorce: None,
            });
        }
        let again = self
            .rng
            .chance(0.5)
            .then(|| self.wed(p, divorced.plus_days(180)));
        Some(Marriages {
            spouse: again.flatten(),
            divorce: Some((first.0, first.1, divorced)),
        })
    }

    /// A spouse of the opposite sex born within 5 years of `p`, and a registration date
    /// on or after `earliest` when both are of legal age; `None` if that is after today.
    fn wed(&mut self, p: &Person, earliest: Date) -> Option<(Person, Date)> {
        let born = (p.birth.plus_years(-5), p.birth.plus_years(5).min(as_of()));
        let spouse = self.person(!p.male, born);
        let of_age = spouse.birth.plus_years(if spouse.male { 22 } else { 20 });
        let start = earliest.max(of_age);
        let date = self.rng.date_between(start, start.plus_years(10));
        (date <= as_of()).then_some((spouse, date))
    }

    fn marriage(&mut self, p: &Person, holder: HolderCode, spouse: &Person, date: Date) {
        let number = format!(
            "J{}-{}-{}",
            p.district.code,
            date.year(),
            self.rng.digits(6)
        );
        let fields = Fields::default()
            .t("holder_name", p.name())
            .d("registration_date", date)
            .t("certificate_number", number)
            .t("holder_sex", p.sex())
            .t("holder_nationality", "中国")
            .d("holder_birth_date", p.birth)
            .t("holder_id_number", p.id.as_str())
            .t("spouse_name", spouse.name())
            .t("spouse_sex", spouse.sex())
            .t("spouse_nationality", "中国")
            .d("spouse_birth_date", spouse.birth)
            .t("spouse_id_number", spouse.id.as_str())
            .t(
                "registration_authority",
                format!("{}民政局", p.district.admin),
            );
        self.emit(Kind::Marriage, holder, (date, None), fields);
    }

    fn divorce(
        &mut self,
        p: &Person,
        holder: HolderCode,
        former: &Person,
        married: Date,
        date: Date,
    ) {
        let number = format!(
            "L{}-{}-{}",
            p.district.code,
            date.year(),
            self.rng.digits(6)
        );
        let fields = Fields::default()
            .t("holder_name", p.name())
            .d("registration_date", date)
            .t("certificate_number", number)
            .t("remarks", format!("双方于{}登记结婚", married.chinese()))
            .t("holder_sex", p.sex())
            .t("holder_nationality", "中国")
            .d("holder_birth_date", p.birth)
            .t("holder_id_number", p.id.as_str())
            .t("former_spouse_name", former.name())
            .t("former_spouse_sex", former.sex())
            .t("former_spouse_nationality", "中国")
            .d("former_spouse_birth_date", former.birth)
            .t("former_spouse_id_number", former.id.as_str())
            .t(
                "registration_authority",
                format!("{}民政局", p.district.admin),
            );
        self.emit(Kind::Divorce, holder, (date, None), fields);
    }

    /// 居民户口簿, the holder's page.
    fn household_register(
        &mut self,
        p: &Person,
        holder: HolderCode,
        address: &str,
        ethnicity: &str,
        marital_status: &str,
        education: &str,
    ) {
        let (head, relationship) = match self.rng.below(4) {
            0 | 1 => (p.name(), "户主".to_owned()),
            2 => (
                self.rng.full_name(if p.male { 0.0 } else { 1.0 }),
                "配偶".to_owned(),
            ),
            _ => (
                format!("{}{}", p.surname, self.rng.given(true)),
                if p.male { "子" } else { "女" }.to_owned(),
            ),
        };
        let registered = if self.rng.chance(0.5) {
            p.birth.plus_days(self.rng.range(1, 60))
        } else {
            self.rng.date_between(p.birth.plus_years(18), as_of())
        };
        let fields = Fields::default()
            .t(
                "household_type",
                if self.rng.chance(0.95) {
                    "家庭户"
                } else {
                    "集体户"
                },
            )
            .t("household_head_name", head)
            .t(
                "household_number",
                format!("{}{}", &p.district.code[4..], self.rng.digits(7)),
            )
            .t("address", address)
            .t("name", p.name())
            .t("relationship_to_head", relationship)
            .t("sex", p.sex())
            .t("birth_place", p.district.province_prefix())
            .t("ethnicity", ethnicity)
            .t(
                "native_place",
                *self.rng.pick(&[
                    "山东省青岛市",
                    "山东省潍坊市",
                    "山东省烟台市",
                    "山东省临沂市",
                ]),
            )
            .d("birth_date", p.birth)
            .t("citizen_id_number", p.id.as_str())
            .t("education_level", education)
            .t("marital_status", marital_status)
            .t(
                "military_service_status",
                if p.male && self.rng.chance(0.1) {
                    "退出现役"
                } else {
                    "未服兵役"
                },
            )
            .d("registration_date", registered);
        self.emit(Kind::HouseholdRegister, holder, (registered, None), fields);
    }

    /// 机动车驾驶证: the number is the identity number; valid 6 years, then 10, then 长期.
    fn driving_licence(&mut self, p: &Person, holder: HolderCode, address: &str) {
        let earliest = p.birth.plus_years(18).max(Date::ymd(1990, 1, 1));
        let first = self.rng.date_between(earliest, earliest.plus_years(15));
        if first > as_of().plus_days(-30) {
            return;
        }
        let (mut from, mut until) = (first, Some(first.plus_years(6)));
        if let Some(u) = until.filter(|u| *u < as_of()) {
            (from, until) = (u, Some(u.plus_years(10)));
        }
        if let Some(u) = until.filter(|u| *u < as_of()) {
            (from, until) = (u, None);
        }
        let classes = *self
            .rng
            .pick(&["C1", "C1", "C1", "C1", "C2", "C2", "B2", "A2", "C1E", "A1"]);
        let fields = Fields::default()
            .t("driving_licence_number", p.id.as_str())
            .t("name", p.name())
            .t("sex", p.sex())
            .t("nationality", "中国")
            .t("address", address)
            .d("birth_date", p.birth)
            .d("first_issue_date", first)
            .t("permitted_vehicle_classes", classes)
            .d("valid_from", from)
            .t("valid_until", until.map_or("长期".into(), Date::iso))
            .t("issuing_authority", "山东省青岛市公安局交通警察支队")
            .t("file_number", format!("3702{}", self.rng.digits(8)))
            .i(
                "accumulated_points",
                *self.rng.pick(&[0, 0, 0, 0, 1, 2, 3, 6]),
            )
            .t("licence_status", "正常");
        self.emit(Kind::DrivingLicence, holder, (from, until), fields);
    }

    /// 毕业证书 (and 学位证书 for a bachelor's programme), starting at 18. Returns
    /// whether the programme was a bachelor's, or `None` if it would end after today.
    fn education(&mut self, p: &Person, holder: HolderCode) -> Option<bool> {
        let school = self.rng.pick(&SCHOOLS);
        let &(major, degree, years) = self.rng.pick(school.majors);
        let start = p.birth.year() + 18;
        let graduated = Date::ymd(start + years, 6, self.rng.range(20, 30) as u32);
        if graduated > as_of() {
            return None;
        }
        let level = if school.bachelor { "05" } else { "06" };
        let number = format!(
            "{}1{}{level}{}",
            school.code,
            start + years,
            self.rng.digits(6)
        );
        let fields = Fields::default()
            .t("name", p.name())
            .t("sex", p.sex())
            .d("birth_date", p.birth)
            .t("study_start", format!("{start}-09"))
            .t("study_end", format!("{}-06", start + years))
            .t("major", major)
            .t(
                "program_length",
                ["", "一年", "二年", "三年", "四年", "五年"][years as usize],
            )
            .t(
                "programme_level",
                if school.bachelor { "本科" } else { "专科" },
            )
            .t("school_name", school.name)
            .t("school_head", self.rng.full_name(0.8))
            .t("certificate_number", number)
            .d("issue_date", graduated);
        self.emit(Kind::Graduation, holder, (graduated, None), fields);
        if school.bachelor {
            let number = format!("{}4{}{}", school.code, start + years, self.rng.digits(6));
            let fields = Fields::default()
                .t("name", p.name())
                .t("sex", p.sex())
                .d("birth_date", p.birth)
                .t("discipline", major)
                .t("degree_type", degree)
                .t("awarding_institution", school.name)
                .t("committee_chair", self.rng.full_name(0.8))
                .t("certificate_number", number)
                .d("award_date", graduated);
            self.emit(Kind::Degree, holder, (graduated, None), fields);
        }
        Some(school.bachelor)
    }

    /// 不动产权证书 for a flat, registered since unified registration began (2016).
    fn real_estate(&mut self, p: &Person, holder: HolderCode, spouse: Option<&Person>) {
        let registered = self
            .rng
            .date_between(p.birth.plus_years(22).max(Date::ymd(2016, 1, 1)), as_of());
        let d = self.rng.pick(&DISTRICTS);
        let (holders, sharing) = match spouse {
            Some(s) if self.rng.chance(0.6) => (format!("{}、{}", p.name(), s.name()), "共同共有"),
            _ => (p.name(), "单独所有"),
        };
        let land_from = self.rng.date_between(Date::ymd(1995, 1, 1), registered);
        let land_until = land_from.plus_years(70).plus_days(-1);
        let (land, floor) = (
            self.rng.range(200_000, 6_000_000),
            self.rng.range(4500, 16000),
        );
        let fields = Fields::default()
            .t(
                "certificate_number",
                format!(
                    "鲁（{}）{}不动产权第{}号",
                    registered.year(),
                    d.admin,
                    self.rng.digits(7)
                ),
            )
            .t("right_holder", holders)
            .t("co_ownership", sharing)
            .t(
                "location",
                format!(
                    "{}{}{}号{}号楼{}单元{}{:02}户",
                    d.admin,
                    self.rng.word(d.streets),
                    self.rng.range(1, 300),
                    self.rng.range(1, 30),
                    self.rng.range(1, 4),
                    self.rng.range(1, 30),
                    self.rng.range(1, 4)
                ),
            )
            .t(
                "property_unit_number",
                format!(
                    "{}{}GB{}F{}",
                    d.code,
                    self.rng.digits(6),
                    self.rng.digits(5),
                    self.rng.digits(8)
                ),
            )
            .t("right_type", "国有建设用地使用权/房屋所有权")
            .t("right_nature", "出让/市场化商品房")
            .t("usage", "城镇住宅用地/住宅")
            .t(
                "area",
                format!(
                    "共有宗地面积{}.{:02}㎡/房屋建筑面积{}.{:02}㎡",
                    land / 100,
                    land % 100,
                    floor / 100,
                    floor % 100
                ),
            )
            .t(
                "term_of_use",
                format!(
                    "国有建设用地使用权 {}起{}止",
                    land_from.chinese(),
                    land_until.chinese()
                ),
            );
        self.emit(Kind::RealEstateTitle, holder, (registered, None), fields);
    }

    /// 残疾人证: the number is the identity number, category digit and grade digit; valid
    /// 10 years, 长期 when issued at 60 or over.
    fn disability(&mut self, p: &Person, holder: HolderCode, address: &str, ethnicity: &str) {
        const CATEGORIES: [&str; 7] = [
            "视力残疾",
            "听力残疾",
            "言语残疾",
            "肢体残疾",
            "智力残疾",
            "精神残疾",
            "多重残疾",
        ];
        const GRADES: [&str; 4] = ["一级", "二级", "三级", "四级"];
        let (c, g) = (self.rng.below(7) as usize, self.rng.below(4) as usize);
        let issued = self
            .rng
            .date_between(as_of().plus_years(-10).plus_days(1), as_of());
        let until = (p.birth.age_on(issued) < 60).then(|| issued.plus_years(10));
        let mut fields = Fields::default()
            .t("name", p.name())
            .t("sex", p.sex())
            .t("ethnicity", ethnicity)
            .d("birth_date", p.birth)
            .t("citizen_id_number", p.id.as_str())
            .t(
                "disability_certificate_number",
                format!("{}{}{}", p.id.as_str(), c + 1, g + 1),
            )
            .t("disability_category", CATEGORIES[c])
            .t("disability_grade", GRADES[g])
            .t("address", address)
            .t(
                "issuing_authority",
                format!("{}残疾人联合会", p.district.admin),
            )
            .d("issue_date", issued)
            .d("valid_from", issued)
            .t("valid_until", until.map_or("长期".into(), Date::iso));
        if CATEGORIES[c] == "智力残疾" || CATEGORIES[c] == "精神残疾" {
            let male = self.rng.chance(0.5);
            fields = fields.t("guardian", format!("{}{}", p.surname, self.rng.given(male)));
        }
        self.emit(Kind::Disability, holder, (issued, until), fields);
    }

    /// 医师执业证书; registration does not expire.
    fn physician(&mut self, p: &Person, holder: HolderCode) {
        let qualified = self
            .rng
            .date_between(p.birth.plus_years(24), as_of().plus_years(-1));
        let issued = self.rng.date_between(qualified.plus_days(180), as_of());
        let qualified = qualified.year();
        let (category, scope) = *self.rng.pick(&[
            ("临床", "内科专业"),
            ("临床", "外科专业"),
            ("临床", "妇产科专业"),
            ("临床", "儿科专业"),
            ("中医", "中医专业"),
            ("口腔", "口腔专业"),
        ]);
        let fields = Fields::default()
            .t("name", p.name())
            .t("sex", p.sex())
            .d("birth_date", p.birth)
            .t("id_number", p.id.as_str())
            .t(
                "physician_qualification_number",
                format!("{qualified}1{}37{}", self.rng.digits(2), p.id.as_str()),
            )
            .t("practice_category", category)
            .t("practice_scope", scope)
            .t("practice_location", "山东省青岛市")
            .t("main_institution", self.rng.word(HOSPITALS))
            .t(
                "certificate_number",
                format!("110370200{}", self.rng.digits(6)),
            )
            .t("issuing_authority", "青岛市卫生健康委员会")
            .d("issue_date", issued);
        self.emit(Kind::Physician, holder, (issued, None), fields);
    }

    /// 护士执业证书; registration is valid 5 years.
    fn nurse(&mut self, p: &Person, holder: HolderCode) {
        let earliest = p
            .birth
            .plus_years(20)
            .max(as_of().plus_years(-5).plus_days(1));
        let from = self.rng.date_between(earliest, as_of());
        let until = from.plus_years(5).plus_days(-1);
        let fields = Fields::default()
            .t("name", p.name())
            .t("sex", p.sex())
            .d("birth_date", p.birth)
            .t("id_number", p.id.as_str())
            .t(
                "certificate_number",
                format!("{}3702{}", from.year(), self.rng.digits(5)),
            )
            .t("practice_location", self.rng.word(HOSPITALS))
            .d("registration_valid_from", from)
            .d("registration_valid_until", until)
            .t("issuing_authority", "青岛市卫生健康委员会")
            .d("issue_date", from);
        self.emit(Kind::Nurse, holder, (from, Some(until)), fields);
    }

    // --- Companies ------------------------------------------------------------------

    fn company(&mut self) {
        let district = self.rng.pick(&DISTRICTS);
        let uscc = self.generator.company_for(self.n, district);
        let holder = HolderCode::Organisation(uscc);
        let industry = self.rng.pick(&INDUSTRIES);
        let mut trade = self.rng.word(TRADE_NAMES).to_owned();
        if self.rng.chance(0.5) {
            trade.push_str(self.rng.word(TRADE_NAMES));
        }
        let name = format!("青岛{trade}{}有限公司", industry.suffix);
        let representative = self.rng.full_name(0.7);
        let founded = self
            .rng
            .date_between(Date::ymd(1995, 1, 1), as_of().plus_days(-30));
        let domicile = format!(
            "{}{}{}号{}{:02}室",
            district.province_prefix(),
            self.rng.word(district.streets),
            self.rng.range(1, 300),
            self.rng.range(1, 25),
            self.rng.range(1, 20)
        );
        let authority = format!("{}市场监督管理局", district.admin);
        let term_until = match founded.plus_years(30) {
            end if end > as_of() && self.rng.chance(0.3) => Some(end),
            _ => None,
        };
        let issued = self.rng.date_between(founded, as_of());
        let fields = Fields::default()
            .t("uscc", uscc.as_str())
            .t("entity_name", name.clone())
            .t("entity_type", *self.rng.pick(&ENTITY_TYPES))
            .t("legal_representative", representative.clone())
            .t(
                "business_scope",
                format!(
                    "一般项目：{}。（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）",
                    industry.scope
                ),
            )
            .t(
                "registered_capital",
                format!(
                    "{}万元人民币",
                    self.rng.pick(&[10, 50, 100, 200, 500, 1000, 3000])
                ),
            )
            .d("establishment_date", founded)
            .d("business_term_from", founded)
            .t(
                "business_term_until",
                term_until.map_or("长期".into(), Date::iso),
            )
            .t("domicile", domicile.clone())
            .t("registration_authority", authority.clone())
            .d("issue_date", issued);
        self.emit(Kind::BusinessLicence, holder, (issued, term_until), fields);

        let company = Company {
            holder,
            uscc,
            name,
            representative,
            domicile,
            authority,
            district,
        };
        if self.rng.chance(industry.food) {
            self.food_licence(&company, founded);
        }
        if self.rng.chance(industry.transport) {
            self.road_transport(&company, founded);
        }
    }

    /// 食品经营许可证: JY, business format digit, region code, 6-digit sequence and a
    /// check digit; valid 5 years.
    fn food_licence(&mut self, c: &Company, founded: Date) {
        let earliest = founded.max(as_of().plus_years(-5).plus_days(1));
        let issued = self.rng.date_between(earliest, as_of());
        let until = issued.plus_years(5).plus_days(-1);
        let (digit, format, items) = *self.rng.pick(&[
            (
                "1",
                "食品销售经营者（商场超市）",
                "预包装食品销售（含冷藏冷冻食品）；散装食品销售（不含冷藏冷冻食品）",
            ),
            (
                "1",
                "食品销售经营者（便利店）",
                "预包装食品销售（不含冷藏冷冻食品）",
            ),
            (
                "2",
                "餐饮服务经营者（小型餐馆）",
                "热食类食品制售；冷食类食品制售",
            ),
            ("3", "单位食堂（职工食堂）", "热食类食品制售"),
        ]);
        let number = format!("JY{digit}{}{}", c.district.code, self.rng.digits(7));
        let office = format!(
            "{}{}市场监督管理所",
            c.authority,
            self.rng.word(c.district.subdistricts)
        );
        let fields = Fields::default()
            .t("operator_name", c.name.clone())
            .t("holder_code", c.uscc.as_str())
            .t("legal_representative", c.representative.clone())
            .t("domicile", c.domicile.clone())
            .t("business_premises", c.domicile.clone())
            .t("main_business_format", format)
            .t("business_items", items)
            .t("licence_number", number)
            .d("valid_until", until)
            .t("supervision_agency", office)
            .t(
                "supervision_officers",
                format!("{}、{}", self.rng.full_name(1.0), self.rng.full_name(0.0)),
            )
            .t("issuing_authority", c.authority.clone())
            .t("signatory", self.rng.full_name(0.6))
            .d("issue_date", issued);
        self.emit(
            Kind::FoodBusinessLicence,
            c.holder,
            (issued, Some(until)),
            fields,
        );
    }

    /// 道路运输经营许可证, valid 4 years.
    fn road_transport(&mut self, c: &Company, founded: Date) {
        let earliest = founded.max(as_of().plus_years(-4).plus_days(1));
        let from = self.rng.date_between(earliest, as_of());
        let until = from.plus_years(4).plus_days(-1);
        let fields = Fields::default()
            .t("operator_name", c.name.clone())
            .t("uscc", c.uscc.as_str())
            .t("operator_address", c.domicile.clone())
            .t("economic_type", "有限责任公司")
            .t(
                "business_scope",
                *self.rng.pick(&[
                    "道路普通货物运输",
                    "道路普通货物运输；货物专用运输（集装箱）",
                    "道路普通货物运输；大型物件运输",
                ]),
            )
            .t(
                "certificate_number",
                format!(
                    "鲁交运管许可青字{}{}号",
                    c.district.code,
                    self.rng.digits(6)
                ),
            )
            .d("valid_from", from)
            .d("valid_until", until)
            .t("issuing_authority", "青岛市交通运输局")
            .d("issue_date", from);
        self.emit(
            Kind::RoadTransportPermit,
            c.holder,
            (from, Some(until)),
            fields,
        );
    }
}

/// What a company's licences repeat from its business licence.
struct Company {
    holder: HolderCode,
    uscc: Uscc,
    name: String,
    representative: String,
    domicile: String,
    authority: String,
    district: &'static District,
}

// ---------------------------------------------------------------------------------------
// Holder codes
// ---------------------------------------------------------------------------------------

/// First and last birth date of generated citizens.
const BORN: ((i32, u32, u32), (i32, u32, u32)) = ((1940, 1, 1), (2024, 12, 31));
/// Organisation codes are 8 characters of the USCC alphabet and a GB 11714 check digit.
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

impl Generator {
    /// The citizen of holder number `n`: a keyed permutation maps `n` to a distinct
    /// (district, birth date, sequence) triple, so that identity numbers never repeat.
    fn citizen_for(&self, n: u64) -> Person {
        let first = Date::ymd(BORN.0.0, BORN.0.1, BORN.0.2);
        let days = (Date::ymd(BORN.1.0, BORN.1.1, BORN.1.2).0 - first.0 + 1) as u64;
        let space = DISTRICTS.len() as u64 * days * 1000;
        let x = permute(n % space, space, self.seed ^ 0xC171_2E45);
        let seq = (x % 1000) as u16;
        let birth = first.plus_days(((x / 1000) % days) as i64);
        let district = &DISTRICTS[(x / 1000 / days) as usize];
        let male = seq % 2 == 1;
        let mut names = Rng::new(self.seed ^ 0x4E41_4D45, n);
        Person {
            surname: names.surname(),
            given: names.given(male),
            male,
            id: citizen_id(district, birth, seq),
            birth,
            district,
        }
    }

    /// The USCC of company number `n`: 91 (enterprise, company), the registration
    /// region, and an organisation code from a keyed permutation of `n`.
    fn company_for(&self, n: u64, district: &District) -> Uscc {
        let space = 31u64.pow(8);
        let mut x = permute(n % space, space, self.seed ^ 0x000C_0DE5);
        let mut org = [0u8; 8];
        for c in org.iter_mut().rev() {
            *c = USCC_ALPHABET[(x % 31) as usize];
            x /= 31;
        }
        // GB 11714-1997: weights 3 7 9 10 5 8 4 2, check 11 − (S mod 11), 10 → X, 11 → 0.
        let s: u32 = org
            .iter()
            .zip([3, 7, 9, 10, 5, 8, 4, 2])
            .map(|(&c, w)| {
                w * if c.is_ascii_digit() {
                    u32::from(c - b'0')
                } else {
                    u32::from(c - b'A') + 10
                }
            })
            .sum();
        let check = match 11 - s % 11 {
            10 => 'X',
            11 => '0',
            v => char::from(b'0' + v as u8),
        };
        let region = if n.is_multiple_of(3) {
            "370200"
        } else {
            district.code
        };
        let first17 = format!("91{region}{}{check}", String::from_utf8_lossy(&org));
        // INVARIANT: 17 characters, all of the USCC alphabet (X is in it).
        Uscc::from_first17(&first17).expect("17 USCC characters")
    }
}

fn citizen_id(district: &District, birth: Date, seq: u16) -> CitizenId {
    let (y, m, d) = birth.parts();
    // INVARIANT: Qingdao codes are in province 37, birth dates are 1900..=2099 calendar
    // dates (people named on certificates are born after 1900) and `seq` is below 1000.
    CitizenId::from_parts(district.code, (y as u16, m as u8, d as u8), seq)
        .expect("valid citizen id parts")
}

/// A keyed bijection on `0..space` (`x` must be below `space`): a 4-round Feistel network
/// on the smallest even number of bits that covers `space`, walking the cycle until the
/// result falls inside the range.
fn permute(mut x: u64, space: u64, key: u64) -> u64 {
    let bits = (64 - (space - 1).leading_zeros()).div_ceil(2).max(1);
    let mask = (1u64 << bits) - 1;
    loop {
        let (mut l, mut r) = (x >> bits, x & mask);
        for round in 0..4u64 {
            (l, r) = (r, l ^ (mix(key ^ (round << 56) ^ r) & mask));
        }
        x = (l << bits) | r;
        if x < space {
            return x;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Randomness and dates
// ---------------------------------------------------------------------------------------

/// The SplitMix64 finaliser: a bijection on `u64` that mixes every bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64 (Steele, Lea and Flood 2014), one stream per (seed, holder).
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        Self(mix(mix(seed) ^ stream))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-32 here).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One of the space-separated words of `list`.
    fn word(&mut self, list: &'static str) -> &'static str {
        let count = list.split(' ').count() as u64;
        // INVARIANT: the index is below the number of words.
        list.split(' ')
            .nth(self.below(count) as usize)
            .expect("index within the list")
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn digits(&mut self, count: usize) -> String {
        (0..count)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }

    /// Uniform in `lo..=hi`; `lo` when the range is empty.
    fn date_between(&mut self, lo: Date, hi: Date) -> Date {
        lo.plus_days(self.range(0, (hi.0 - lo.0).max(0)))
    }

    fn surname(&mut self) -> char {
        // The smaller of two draws favours the common surnames at the front.
        let count = SURNAMES.chars().count() as u64;
        let i = self.below(count).min(self.below(count));
        nth_char(SURNAMES, i)
    }

    /// One or two characters.
    fn given(&mut self, male: bool) -> String {
        let pool = if male { GIVEN_MALE } else { GIVEN_FEMALE };
        let count = pool.chars().count() as u64;
        let len = if self.chance(0.75) { 2 } else { 1 };
        (0..len)
            .map(|_| nth_char(pool, self.below(count)))
            .collect()
    }

    /// A full name; a man's with probability `male`.
    fn full_name(&mut self, male: f64) -> String {
        let male = self.chance(male);
        format!("{}{}", self.surname(), self.given(male))
    }
}

fn nth_char(s: &str, i: u64) -> char {
    // INVARIANT: callers pass an index below `s.chars().count()`.
    s.chars().nth(i as usize).expect("index within the string")
}

fn as_of() -> Date {
    Date::ymd(AS_OF.0, AS_OF.1, AS_OF.2)
}

/// A proleptic Gregorian date as days since 1970-01-01 (algorithms from Howard Hinnant,
/// "chrono-Compatible Low-Level Date Algorithms").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Date(i64);

impl Date {
    fn ymd(y: i32, m: u32, d: u32) -> Self {
        let y = i64::from(y) - i64::from(m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(m);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Self(era * 146_097 + doe - 719_468)
    }

    fn parts(self) -> (i32, u32, u32) {
        let z = self.0 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        (
            (yoe + era * 400 + i64::from(m <= 2)) as i32,
            m as u32,
            d as u32,
        )
    }

    fn year(self) -> i32 {
        self.parts().0
    }

    fn plus_days(self, days: i64) -> Self {
        Self(self.0 + days)
    }

    /// The same day `years` later; 29 February becomes 28 February in common years.
    fn plus_years(self, years: i32) -> Self {
        let (y, m, d) = self.parts();
        let y = y + years;
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        Self::ymd(y, m, if m == 2 && d == 29 && !leap { 28 } else { d })
    }

    /// Completed years of someone born on `self`, on `day`.
    fn age_on(self, day: Date) -> i32 {
        let ((by, bm, bd), (y, m, d)) = (self.parts(), day.parts());
        y - by - i32::from((m, d) < (bm, bd))
    }

    fn iso(self) -> String {
        let (y, m, d) = self.parts();
        format!("{y:04}-{m:02}-{d:02}")
    }

    /// 2015年03月08日.
    fn chinese(self) -> String {
        let (y, m, d) = self.parts();
        format!("{y}年{m:02}月{d:02}日")
    }
}
