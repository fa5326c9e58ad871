//! Citizens and the certificates they hold.

use super::codes::citizen_id;
use super::date::{Date, as_of};
use super::reference::{DISTRICTS, District, ETHNIC_MINORITIES, HOSPITALS, SCHOOLS};
use super::{Builder, Fields, Kind};
use proofless_core::ids::{CitizenId, HolderCode};

/// A person: the holder, or someone named on a holder's certificate.
pub(super) struct Person {
    pub(super) surname: char,
    pub(super) given: String,
    pub(super) male: bool,
    pub(super) id: CitizenId,
    pub(super) birth: Date,
    pub(super) district: &'static District,
}

impl Person {
    pub(super) fn name(&self) -> String {
        format!("{}{}", self.surname, self.given)
    }

    pub(super) fn sex(&self) -> &'static str {
        if self.male { "男" } else { "女" }
    }
}

impl Fields {
    /// A party to a marriage or divorce: `{role}_name`, `_sex`, `_nationality`,
    /// `_birth_date` and `_id_number`.
    fn party(self, role: &str, p: &Person) -> Self {
        self.t(&format!("{role}_name"), p.name())
            .t(&format!("{role}_sex"), p.sex())
            .t(&format!("{role}_nationality"), "中国")
            .d(&format!("{role}_birth_date"), p.birth)
            .t(&format!("{role}_id_number"), p.id.as_str())
    }
}

impl Builder<'_> {
    pub(super) fn citizen(&mut self) {
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
            .d("registration_date", date)
            .t("certificate_number", number)
            .party("holder", p)
            .party("spouse", spouse)
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
            .d("registration_date", date)
            .t("certificate_number", number)
            .t("remarks", format!("双方于{}登记结婚", married.chinese()))
            .party("holder", p)
            .party("former_spouse", former)
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
}
