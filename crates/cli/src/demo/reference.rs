//! Reference data: Qingdao districts with their streets and authorities, names,
//! universities, hospitals and industries.

/// A district or county-level city of Qingdao.
pub(super) struct District {
    /// GB/T 2260 code.
    pub(super) code: &'static str,
    /// How authorities are prefixed: 青岛市市南区民政局, but 胶州市民政局.
    pub(super) admin: &'static str,
    /// The public security organ that issues identity cards there.
    pub(super) police: &'static str,
    /// Street names, separated by spaces.
    pub(super) streets: &'static str,
    /// 街道, for market supervision offices (市场监督管理所), separated by spaces.
    pub(super) subdistricts: &'static str,
}

impl District {
    /// An address prefix: 山东省青岛市市南区, but 山东省胶州市.
    pub(super) fn province_prefix(&self) -> String {
        format!("山东省{}", self.admin)
    }
}

pub(super) static DISTRICTS: [District; 10] = [
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
pub(super) const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董\
                        袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟\
                        熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴孔汤";
pub(super) const GIVEN_MALE: &str =
    "伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆旭宁龙林阳建国志文峰亮成东海鸿博泽晨";
pub(super) const GIVEN_FEMALE: &str =
    "芳娜敏静丽艳娟霞燕玲桂英秀兰萍红婷雪琳慧颖倩洁琴云梅莉欣怡佳悦晶晓月璐丹蕾薇玉凤";
pub(super) const ETHNIC_MINORITIES: [&str; 4] = ["回族", "满族", "蒙古族", "朝鲜族"];

/// A university or college: name, 5-digit school code, whether it grants bachelor's
/// degrees, and (major, degree type, years).
pub(super) struct School {
    pub(super) name: &'static str,
    pub(super) code: &'static str,
    pub(super) bachelor: bool,
    pub(super) majors: &'static [(&'static str, &'static str, i32)],
}

// School codes of the universities are those of the 教育部 list; the vocational
// college's code is illustrative.
pub(super) const SCHOOLS: [School; 6] = [
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

pub(super) const HOSPITALS: &str = "青岛大学附属医院 青岛市市立医院 青岛市中心医院 青岛市妇女儿童医院 青岛市海慈医疗集团 青岛市第八人民医院";

/// Company trade names (字号) are one or two of these, e.g. 海润 or 海润祥和.
pub(super) const TRADE_NAMES: &str = "海润 金港 瑞丰 鑫源 华泰 恒达 宏远 德利 明辉 蓝海 福瑞 佳和 信诚 泰和 盛世 联创 汇通 鼎盛 祥和 嘉禾";

/// An industry: the name's suffix, business scope, and the chances that a company in it
/// holds a food business licence and a road transport permit.
pub(super) struct Industry {
    pub(super) suffix: &'static str,
    pub(super) scope: &'static str,
    pub(super) food: f64,
    pub(super) transport: f64,
}

pub(super) const INDUSTRIES: [Industry; 9] = [
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

pub(super) const ENTITY_TYPES: [&str; 4] = [
    "有限责任公司（自然人投资或控股）",
    "有限责任公司（自然人独资）",
    "其他有限责任公司",
    "股份有限公司（非上市、自然人投资或控股）",
];
